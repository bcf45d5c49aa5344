"""The fast paths of the evidence writer give exactly the bytes and digests of the
slow, obvious ones (pydantic model -> json.dumps), and the writer process writes
what it is given or says that it could not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_dome import models
from pytest_dome.aggregate import AttemptRecord, TaskRecord, render_task_result
from pytest_dome.canonical import canonical_digest, canonical_json, digest, sha256_hex
from pytest_dome.evidence import (
    EarlyResults,
    Entry,
    EvidenceWriter,
    early_entry,
    entry_canonical,
    entry_pretty,
    render,
    render_parts,
    task_result_path,
)
from pytest_dome.gate import TaskVerdict, results_digest
from pytest_dome.models import Attempt, TaskResult
from pytest_dome.plan import PlannedTask, planned_canonical, planned_pretty
from pytest_dome.run import result_key

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
OUTCOMES = st.sampled_from(["passed", "failed", "error", "skipped", "xfailed", "xpassed"])
DURATIONS = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)

attempts = st.builds(
    AttemptRecord,
    number=st.integers(1, 5),
    outcome=OUTCOMES,
    when=st.sampled_from(["setup", "call", "teardown", "crash"]),
    duration_s=DURATIONS,
    worker=st.none() | st.just("gw1"),
    summary=st.none() | TEXT,
)
records = st.builds(
    TaskRecord,
    task_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True),
    node_id=TEXT,
    outcome=OUTCOMES,
    flaky=st.booleans(),
    duration_s=DURATIONS,
    summary=st.none() | TEXT,
    attempts=st.lists(attempts, max_size=3).map(tuple),
)


def as_model(run_id: str, record: TaskRecord) -> TaskResult:
    attempts = tuple(Attempt(**a._asdict()) for a in record.attempts)
    return TaskResult(run_id=run_id, **{**record._asdict(), "attempts": attempts})


@settings(max_examples=200)
@given(records, TEXT)
def test_task_result_template_is_the_model_rendering(record: TaskRecord, run_id: str) -> None:
    model = as_model(run_id, record)
    assert render_task_result(run_id, record) == render(model)
    assert render_task_result(run_id, model) == render(model)


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
    early = EarlyResults(tmp_path)
    early.BATCH = 100  # several batches
    for i in range(50):
        early.submit(f"t{i}", f"result {i}\n".encode(), b"key")
    early.submit("../escape", b"x", b"key")  # not a safe id: left for the end
    written = early.finish()
    assert early.error is None and sorted(written) == sorted(f"t{i}" for i in range(50))
    assert (tmp_path / "task_results" / "t7.result.json").read_bytes() == b"result 7\n"
    assert early_entry(written["t7"]) == (b"key", sha256_hex(b"result 7\n"), len(b"result 7\n"))
    assert not (tmp_path / "escape.result.json").exists()


def test_writer_process_failure_means_write_everything_at_the_end(tmp_path: Path) -> None:
    early = EarlyResults(tmp_path)
    (tmp_path / "task_results").rmdir()  # the helper cannot open its folder
    (tmp_path / "task_results").write_text("not a folder")
    early.submit("t1", b"x", b"key")
    assert early.finish() == {} and early.error is not None


planned = st.builds(
    PlannedTask,
    task_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True),
    kind=st.sampled_from(["test", "command"]),
    node_id=TEXT,
    entry=st.none() | TEXT,
    critical=st.booleans(),
    risk_weight=st.floats(0, 100),
)


@settings(max_examples=100)
@given(st.lists(planned, max_size=4), st.none() | TEXT)
def test_plan_template_is_the_model_rendering(tasks: list[PlannedTask], packet_id: str | None) -> None:
    models_ = tuple(models.PlannedTask(**t._asdict()) for t in tasks)
    plan = models.Plan(packet_id=packet_id, input_digest="0" * 64, tasks=models_)
    head = {k: v for k, v in plan.model_dump(mode="json").items() if k != "tasks"}
    assert b"".join(render_parts(head, "tasks", tasks, planned_pretty)) == render(plan)
    assert canonical_digest(head, "tasks", tasks, planned_canonical) == digest(plan.model_dump(mode="json"))


def test_an_early_result_is_kept_while_its_key_holds() -> None:
    one = AttemptRecord(1, "failed", "call", 0.1, None, "boom")
    two = AttemptRecord(2, "passed", "call", 0.1, None, None)
    early = TaskRecord("t", "t.py::test", "failed", False, 0.1, "boom", (one,))
    assert result_key(early) == result_key(early._replace(duration_s=9.0))  # same attempts
    assert result_key(early) != result_key(early._replace(outcome="passed", attempts=(one, two)))
    assert result_key(early) != result_key(early._replace(node_id="t.py::other"))
    assert len(result_key(early)) == 7


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
    for i, task_id in enumerate(sorted(ids)):
        writer.list_task_result(task_id, b"key" + bytes([i]) * 32 + i.to_bytes(8, "big"))
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
