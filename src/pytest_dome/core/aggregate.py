"""Aggregate per-phase test reports into one result per implementer task.

Runs on the controller only (or the single process when serial). Reports are
keyed by node id, never by "the last report seen", because under xdist the
reports of different items interleave. An attempt ends with its teardown
report; a report with outcome 'rerun' (dome's retry, pytest-rerunfailures', or
one of flaky's that the task runner logs) makes it one that is not the last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..contracts.models import SCHEMA_VERSION, Phase, TaskOutcome
from .canonical import json_string as _string

SUMMARY_CHARS = 1000


class PhaseReport(NamedTuple):
    """The builtin-typed essence of one pytest report."""

    node_id: str
    when: Phase
    outcome: str  # pytest's: passed | failed | skipped, or 'rerun'
    wasxfail: bool
    duration: float
    worker: str | None
    summary: str | None
    subtest: bool = False
    retried: bool = False
    """A teardown that closes an attempt which is not the last (a plugin ran the
    test again after it without logging the attempt's failure as a rerun)."""
    task_id: str | None = None
    """The plan's task id, on the report that closes an attempt (the task runner
    sets it); handed to ``on_final`` with the node id. None on a worker's crash
    report, which names no task."""


class Attempt(NamedTuple):
    """One attempt of a task: an entry of a task result's ``attempts``."""

    number: int
    outcome: TaskOutcome
    when: Phase
    duration_s: float
    worker: str | None
    summary: str | None


class TaskResult(NamedTuple):
    """A task's final result: what ``task_results/<task id>.result.json`` holds but
    its constants (``run_id``, ``kind``, ``schema_version``). The one record type
    of that artifact: the session builds it, :func:`render_task_result` writes it
    (held to ``ssot/schemas/task.result.schema.json`` by a property test) and
    :func:`read_task_result` reads it back."""

    task_id: str
    node_id: str
    outcome: TaskOutcome
    flaky: bool
    duration_s: float
    summary: str | None
    attempts: tuple[Attempt, ...]


@dataclass
class _Open:
    """The attempt being assembled from its phase reports."""

    outcome: TaskOutcome | None = None
    when: Phase = "setup"
    duration: float = 0.0
    worker: str | None = None
    summary: str | None = None
    called: bool = False
    rerun: bool = False
    """A report of this attempt was logged as a rerun: the test runs again."""
    phase: int = -1
    """The order of the last phase reported (see ``_ORDER``)."""


def _phase_outcome(report: PhaseReport) -> TaskOutcome:
    if report.when == "crash":
        return "failed"
    if report.when in ("setup", "teardown") and report.outcome in ("failed", "rerun"):
        return "error"
    if report.outcome == "skipped":
        return "xfailed" if report.wasxfail else "skipped"
    if report.outcome == "passed":
        return "xpassed" if report.wasxfail else "passed"
    return "failed"


_ORDER = {"setup": 0, "call": 1, "teardown": 2}
"""The phases of an attempt in their order; a crash (3) ends it."""

_PASSING: frozenset[TaskOutcome] = frozenset({"passed", "skipped", "xfailed", "xpassed"})


@dataclass
class Aggregator:
    """Collects phase reports into attempts per node id; calls ``on_final`` when a
    task's final attempt closes, and gives its result (or just its outcome) on
    demand."""

    run_id: str
    attempts: dict[str, tuple[tuple[Any, ...], ...]] = field(default_factory=dict)
    """Node id -> its attempts so far, each the fields of an :class:`Attempt` in an
    exact tuple of plain values: the garbage collector stops tracking such tuples at
    its first look (it keeps tracking a named tuple), so kept attempts add nothing
    to pytest's full collections."""
    _open: dict[str, _Open] = field(default_factory=dict)
    _subtest_failure: dict[str, str] = field(default_factory=dict)
    """Node id -> its first failed subtest's summary, until the call report that it
    fails. Kept apart from the open attempt: a plugin that logs an attempt's phase
    reports after the attempt (dome's retry, rerunfailures) logs its subtests, which
    log themselves as they run, before that attempt's setup report."""
    on_final: Callable[[str, str | None], None] | None = None
    """Called with the node id and the closing report's ``task_id`` when a final
    attempt (ended by teardown or a crash) closes."""

    def add(self, report: PhaseReport) -> None:
        """One report. An attempt is closed by its teardown report (or a worker's
        crash); it is not the last when one of its reports was logged as a rerun
        (by dome's retry or pytest-rerunfailures) or its teardown says so."""
        if report.subtest:
            # A failed subtest fails its task; passing subtests say nothing new.
            if report.outcome in ("failed", "rerun"):
                self._subtest_failure.setdefault(report.node_id, report.summary or "a subtest failed")
            return
        current = self._open.get(report.node_id)
        if current is None:
            current = self._open[report.node_id] = _Open()
        elif _ORDER.get(report.when, 3) <= current.phase or (report.when == "crash" and current.rerun):
            # A phase again, or a crash after a rerun: a new attempt, while the last one
            # logged no teardown (dome's retry logs only a retried attempt's failure).
            self._close(report.node_id, final=False)
            current = self._open[report.node_id] = _Open()
        current.rerun = current.rerun or report.outcome == "rerun"
        current.phase = _ORDER.get(report.when, 3)
        current.duration += max(report.duration, 0.0)
        current.worker = report.worker or current.worker
        outcome = _phase_outcome(report)
        if report.when == "teardown":
            if outcome == "error" and (current.outcome is None or current.outcome in _PASSING):
                current.outcome, current.when, current.summary = "error", "teardown", report.summary
            self._close(report.node_id, final=not (current.rerun or report.retried), task_id=report.task_id)
            return
        summary = report.summary
        subtest_failure = self._subtest_failure.pop(report.node_id, None) if report.when == "call" else None
        if subtest_failure is not None and outcome in ("passed", "failed"):
            # The first failed subtest says more than "contains 1 failed subtest".
            outcome, summary = "failed", subtest_failure
        if current.outcome is None or outcome != "passed" or report.when == "call":
            current.outcome, current.when, current.summary = outcome, report.when, summary
        current.called = current.called or report.when in ("call", "crash")
        if report.when == "crash":
            self._close(report.node_id, final=True, task_id=report.task_id)

    def _close(self, node_id: str, final: bool = False, task_id: str | None = None) -> None:
        current = self._open.pop(node_id)
        before = self.attempts.get(node_id, ())
        attempt = (  # plain str and float: no object of a plugin's kept alive
            len(before) + 1,
            current.outcome or "passed",
            str(current.when),
            round(float(current.duration), 6),
            None if current.worker is None else str(current.worker),
            None if current.summary is None else str(current.summary),
        )
        self.attempts[node_id] = (*before, attempt)
        if final and self.on_final is not None:
            self.on_final(node_id, task_id)

    def close_open(self) -> list[str]:
        """The end of the session: close the attempts cut short (an interrupt); the
        node ids whose results that changed."""
        closed = []
        for node_id, current in list(self._open.items()):
            # An attempt cut short (an interrupt): keep it only when it got past setup
            # or failed there; a test that was only set up did not run.
            if current.called or current.outcome not in (None, "passed"):
                self._close(node_id)
                closed.append(node_id)
            else:
                del self._open[node_id]
        return closed

    def results(self, planned: Iterable[tuple[str, str]]) -> list[TaskResult]:
        """Final results of the planned ``(node id, task id)`` pairs that reported."""
        self.close_open()
        return [self.result(node_id, task_id) for node_id, task_id in planned if node_id in self.attempts]

    def verdict(self, node_id: str) -> tuple[TaskOutcome, bool] | None:
        """The outcome and flakiness of a node's attempts so far (None: it did not
        report), without building its result."""
        attempts = self.attempts.get(node_id)
        if attempts is None:
            return None
        outcome: TaskOutcome = attempts[-1][1]
        return outcome, _flaky(outcome, attempts)

    def duration(self, node_id: str) -> float:
        """A result's ``duration_s``: its attempts' durations, added up, without building it."""
        total: float = sum(a[3] for a in self.attempts[node_id])
        return round(total, 6)

    def result(self, node_id: str, task_id: str) -> TaskResult:
        """The result of a node's attempts so far, as task ``task_id``."""
        attempts = tuple(map(Attempt._make, self.attempts[node_id]))
        final = attempts[-1]
        return TaskResult(
            task_id=task_id,
            node_id=node_id,
            outcome=final.outcome,
            flaky=_flaky(final.outcome, self.attempts[node_id]),
            duration_s=self.duration(node_id),
            summary=final.summary,
            attempts=attempts,
        )


def _flaky(final: TaskOutcome, attempts: tuple[tuple[Any, ...], ...]) -> bool:
    """Passed in the end after an attempt that failed or errored."""
    return final in _PASSING and any(a[1] in ("failed", "error") for a in attempts[:-1])


def render_task_result(run_id: str, result: TaskResult) -> bytes:
    """The bytes of a task result file, as ``evidence.render`` writes any artifact
    (sorted keys, two-space indent): the only renderer of this artifact, about ten
    times faster than building the document and dumping it, for the one file a run
    writes per test. A property test holds it to ``json.dumps`` and the schema."""
    attempts = ",".join(
        "\n    {\n"
        f'      "duration_s": {float(a.duration_s)!r},\n'
        f'      "number": {int(a.number)},\n'
        f'      "outcome": {_string(a.outcome)},\n'
        f'      "summary": {_string(a.summary)},\n'
        f'      "when": {_string(a.when)},\n'
        f'      "worker": {_string(a.worker)}\n'
        "    }"
        for a in result.attempts
    )
    text = (f'{{\n  "attempts": [{attempts}\n  ],\n' if attempts else '{\n  "attempts": [],\n') + (
        f'  "duration_s": {float(result.duration_s)!r},\n'
        f'  "flaky": {"true" if result.flaky else "false"},\n'
        '  "kind": "task.result",\n'
        f'  "node_id": {_string(result.node_id)},\n'
        f'  "outcome": {_string(result.outcome)},\n'
        f'  "run_id": {_string(run_id)},\n'
        f'  "schema_version": "{SCHEMA_VERSION}",\n'
        f'  "summary": {_string(result.summary)},\n'
        f'  "task_id": {_string(result.task_id)}\n'
        "}\n"
    )
    return text.encode("utf-8")


def read_task_result(doc: dict[str, Any]) -> TaskResult:
    """A schema-checked task result document as a :class:`TaskResult`."""
    return TaskResult(
        doc["task_id"],
        doc["node_id"],
        doc["outcome"],
        doc["flaky"],
        float(doc["duration_s"]),
        doc["summary"],
        tuple(
            Attempt(a["number"], a["outcome"], a["when"], float(a["duration_s"]), a["worker"], a["summary"])
            for a in doc["attempts"]
        ),
    )
