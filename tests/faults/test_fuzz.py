"""Fuzzing the inputs that name files: never a traceback, never a path out of the run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_dome.config.inputs import load_packet
from pytest_dome.config.options import ConfigError, check_run_id
from pytest_dome.core.taskid import task_id_for
from pytest_dome.runfolder.layout import task_result_path
from pytest_dome.runfolder.writer import EvidenceError, safe_join

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@given(st.text(max_size=200))
def test_run_ids_are_accepted_only_when_safe(tmp_path_factory, run_id: str) -> None:
    root = tmp_path_factory.getbasetemp() / "runtime"
    try:
        check_run_id(run_id)
    except ConfigError as exc:
        assert "invalid run id" in str(exc)
        return
    assert root.resolve() in safe_join(root, run_id).parents


@given(st.text(min_size=1, max_size=500))
def test_task_ids_from_any_node_id_stay_in_the_run_folder(tmp_path_factory, node_id: str) -> None:
    run_dir = tmp_path_factory.getbasetemp() / "run"
    target = safe_join(run_dir, task_result_path(task_id_for(node_id)))
    assert target.parent == (run_dir / "task_results").resolve()


@pytest.mark.parametrize("hostile", ["../x", "a/../../b", "/etc/passwd", "task_results/../../../x"])
def test_safe_join_refuses_escapes(tmp_path: Path, hostile: str) -> None:
    with pytest.raises(EvidenceError):
        safe_join(tmp_path / "run", hostile)


def test_safe_join_refuses_symlinks_out(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "gate").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(EvidenceError):
        safe_join(run, "gate/gate.decision.json")


packets = st.fixed_dictionaries(
    {"schema_version": st.just("1.0.0"), "kind": st.just("packet"), "packet_id": st.text(max_size=20)},
    optional={
        "tasks": st.lists(
            st.dictionaries(
                st.sampled_from(["kind", "id", "argv", "cwd", "select", "env"]), json_values, max_size=5
            ),
            max_size=3,
        ),
        "base_ref": json_values,
        "verify": json_values,
        "policy": json_values,
    },
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(packets, json_values))
def test_any_packet_document_is_accepted_or_refused_in_one_line(tmp_path: Path, doc) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    before = sorted(tmp_path.rglob("*"))
    try:
        load_packet(path, "p.json", tmp_path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("packet p.json")
    assert sorted(tmp_path.rglob("*")) == before
