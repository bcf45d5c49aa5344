"""The fast paths of the evidence writer give exactly the bytes and digests of the
slow, obvious ones (the document -> json.dumps), the per-task templates give
documents their schemas accept and that read back as the same records, and the
writer process writes what it is given or says that it could not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_dome.contracts.models import SCHEMA_VERSION
from pytest_dome.core.aggregate import Attempt, TaskResult, read_task_result, render_task_result
from pytest_dome.core.canonical import canonical_digest, canonical_json, digest, sha256_hex
from pytest_dome.core.checkers import check
from pytest_dome.core.gate import TaskVerdict, results_digest
from pytest_dome.core.plan import Plan, PlannedTask, planned_canonical, planned_pretty, read_plan
from pytest_dome.core.taskid import is_safe_id
from pytest_dome.runfolder.layout import task_result_path
from pytest_dome.runfolder.speedups import pack_digest
from pytest_dome.runfolder.writer import (
    Entry,
    EvidenceWriter,
    TaskResultFiles,
    entry_canonical,
    entry_pretty,
    in_path_order,
    render,
    render_parts,
)

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
OUTCOMES = st.sampled_from(["passed", "failed", "error", "skipped", "xfailed", "xpassed"])
DURATIONS = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)

attempts = st.builds(
    Attempt,
    number=st.integers(1, 5),
    outcome=OUTCOMES,
    when=st.sampled_from(["setup", "call", "teardown", "crash"]),
    duration_s=DURATIONS,
    worker=st.none() | st.just("gw1"),
    summary=st.none() | TEXT,
)
records = st.builds(
    TaskResult,
    task_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True),
    node_id=NAMES,
    outcome=OUTCOMES,
    flaky=st.booleans(),
    duration_s=DURATIONS,
    summary=st.none() | TEXT,
    attempts=st.lists(attempts, max_size=3).map(tuple),
)


def result_document(run_id: str, record: TaskResult) -> dict[str, Any]:
    """The obvious document of a task result: its fields and the constants."""
    attempts = [a._asdict() for a in record.attempts]
    return {
        **record._asdict(),
        "attempts": attempts,
        "run_id": run_id,
        "kind": "task.result",
        "schema_version": SCHEMA_VERSION,
    }


@settings(max_examples=200)
@given(records, TEXT)
def test_task_result_template_is_the_documents_rendering(record: TaskResult, run_id: str) -> None:
    data = render_task_result(run_id, record)
    assert data == render(result_document(run_id, record))
    assert read_task_result(json.loads(data)) == record


@settings(max_examples=100)
@given(records, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True).filter(is_safe_id))
def test_task_result_template_gives_what_the_schema_accepts(record: TaskResult, run_id: str) -> None:
    record = record._replace(
        attempts=tuple(a._replace(number=i + 1) for i, a in enumerate(record.attempts)),
        outcome=record.attempts[-1].outcome if record.attempts else "missing",
    )
    assert check("task.result", json.loads(render_task_result(run_id, record))) == []


entries = st.builds(
    Entry,
    path=TEXT,
    kind=st.sampled_from(["task.result", "plan"]),
    sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
    bytes=st.integers(0, 10**9),
)


@settings(max_examples=100)
@given(st.lists(entries, max_size=5), st.dictionaries(st.sampled_from(["b", "run_id", "z"]), TEXT))
def test_long_lists_render_and_hash_in_pieces_as_a_whole(items: list[Entry], head: dict[str, Any]) -> None:
    whole = {**head, "artifacts": [e._asdict() for e in items]}
    assert b"".join(render_parts(head, "artifacts", items, entry_pretty)) == render(whole)
    assert canonical_digest(head, "artifacts", items, entry_canonical) == digest(whole)
    assert json.loads(canonical_json(whole)) == whole


def test_pieces_span_several_chunks() -> None:
    items = [Entry(f"task_results/t{i}.result.json", "task.result", "0" * 64, i) for i in range(4321)]
    head = {"run_id": "r"}
    whole = {**head, "artifacts": [e._asdict() for e in items]}
    assert b"".join(render_parts(head, "artifacts", items, entry_pretty)) == render(whole)
    assert canonical_digest(head, "artifacts", items, entry_canonical) == digest(whole)
    # a key that sorts last is hashed from the end
    tasks = [{"i": i} for i in range(2500)]
    assert canonical_digest({"a": 1}, "zz", tasks, lambda t: canonical_json(t).decode()) == digest(
        {"a": 1, "zz": tasks}
    )


def test_writer_process_writes_every_result(tmp_path: Path) -> None:
    files = TaskResultFiles(tmp_path)
    files.writer.BATCH = 100  # several batches
    for i in range(50):
        files.write(f"t{i}", f"result {i}\n".encode())
    files.write("../escape", b"x")  # not a safe id: left for the end
    written = files.finish()
    assert files.writer.error is None and sorted(written) == sorted(f"t{i}" for i in range(50))
    assert (tmp_path / "task_results" / "t7.result.json").read_bytes() == b"result 7\n"
    assert written["t7"] == pack_digest(b"result 7\n")
    assert written["t7"][:32].hex() == sha256_hex(b"result 7\n")
    assert not (tmp_path / "escape.result.json").exists()


def test_writer_process_failure_means_write_everything_at_the_end(tmp_path: Path) -> None:
    files = TaskResultFiles(tmp_path)
    (tmp_path / "task_results").rmdir()  # the helper cannot open its folder
    (tmp_path / "task_results").write_text("not a folder")
    files.write("t1", b"x")
    assert files.finish() == {} and files.writer.error is not None


planned = st.builds(
    PlannedTask,
    task_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True),
    kind=st.sampled_from(["test", "command"]),
    node_id=NAMES,
    entry=st.none() | NAMES,
    critical=st.booleans(),
    risk_weight=st.floats(0, 100),
)


@settings(max_examples=100)
@given(
    st.lists(planned, max_size=4),
    st.none() | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True),
)
def test_plan_template_is_the_documents_rendering(tasks: list[PlannedTask], packet_id: str | None) -> None:
    head = {
        "schema_version": SCHEMA_VERSION,
        "kind": "plan",
        "packet_id": packet_id,
        "input_digest": "0" * 64,
    }
    document = {**head, "tasks": [t._asdict() for t in tasks]}
    data = b"".join(render_parts(head, "tasks", tasks, planned_pretty))
    assert data == render(document)
    assert canonical_digest(head, "tasks", tasks, planned_canonical) == digest(document)
    assert read_plan(json.loads(data)) == Plan(packet_id, "0" * 64, tuple(tasks))
    assert check("plan", json.loads(data)) == []


TASK_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,8}", fullmatch=True)
verdicts = st.builds(
    TaskVerdict,
    task_id=TASK_IDS,
    outcome=OUTCOMES,
    flaky=st.booleans(),
    critical=st.booleans(),
    risk_weight=st.floats(min_value=0, max_value=1e3, allow_nan=False) | st.integers(0, 10),
)


@settings(max_examples=200)
@given(st.lists(verdicts, max_size=8))
def test_results_digest_is_the_digest_of_the_sorted_rows(tasks: list[TaskVerdict]) -> None:
    rows = sorted([t.task_id, t.outcome, t.flaky, t.critical, float(t.risk_weight)] for t in tasks)
    assert results_digest(tasks) == digest(rows)


def test_results_digest_refuses_what_canonical_json_refuses() -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        results_digest([TaskVerdict("t", "passed", risk_weight=float("inf"))])


@settings(max_examples=100)
@given(st.sets(TASK_IDS, max_size=12))
@example(ids={"a", "a-b", "a.b", "a_b", "a0", "a.result"})
def test_manifest_entries_are_in_path_order(tmp_path_factory: pytest.TempPathFactory, ids: set[str]) -> None:
    writer = EvidenceWriter(tmp_path_factory.mktemp("run"))
    for rel in ("gate/gate.decision.json", "plan.json", "checks/session.json", "zz/last.json"):
        writer.entries[rel] = Entry(rel, "plan", "0" * 64, 1)
    writer.adopt_task_results(
        {task_id: bytes([i]) * 32 + i.to_bytes(8, "big") for i, task_id in enumerate(sorted(ids))}
    )
    entries = writer.artifact_list()
    paths = [e.path for e in entries]
    assert paths == sorted([*writer.entries, *(task_result_path(t) for t in ids)])
    for i, task_id in enumerate(sorted(ids)):
        entry = entries[paths.index(task_result_path(task_id))]
        assert (entry.kind, entry.sha256, entry.bytes) == ("task.result", (bytes([i]) * 32).hex(), i)
    assert entries[:] == [entries[i] for i in range(len(entries))]


def test_a_task_result_is_listed_only_through_its_compact_record(tmp_path: Path) -> None:
    writer = EvidenceWriter(tmp_path)
    rel = task_result_path("t")
    writer.entries[rel] = Entry(rel, "task.result", "0" * 64, 1)  # the path order would be wrong
    with pytest.raises(ValueError, match="a regular artifact under task_results/"):
        writer.artifact_list()


@settings(max_examples=300)
@given(st.lists(st.from_regex(r"[a0][a0._-]{0,8}", fullmatch=True), unique=True, max_size=40))
def test_in_path_order_is_the_order_of_the_result_files_paths(ids: list[str]) -> None:
    # A small alphabet: many ids are prefixes of others, the only ones that move.
    assert in_path_order(list(ids)) == sorted(ids, key=task_result_path)
