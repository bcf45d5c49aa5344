"""Aggregate per-phase test reports into one result per implementer task.

Runs on the controller only (or the single process when serial). Reports are
keyed by node id, never by "the last report seen", because under xdist the
reports of different items interleave. A report with outcome 'rerun' (ours,
or pytest-rerunfailures') ends a non-final attempt.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .canonical import json_string as _string
from .models import SCHEMA_VERSION, Phase, ResultLike, TaskOutcome

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


class AttemptRecord(NamedTuple):
    """One attempt of a task: the fields of a task result's ``attempts`` entry."""

    number: int
    outcome: TaskOutcome
    when: Phase
    duration_s: float
    worker: str | None
    summary: str | None


class TaskRecord(NamedTuple):
    """A task's final result while the session runs: the fields of a task result
    file but its constants (``run_id``, ``kind``, ``schema_version``).

    Small, and read like a :class:`~pytest_dome.models.TaskResult` (same attribute
    names). Built when a result is rendered or decided: the session keeps the
    attempts as plain tuples (see :attr:`Aggregator.attempts`).
    """

    task_id: str
    node_id: str
    outcome: TaskOutcome
    flaky: bool
    duration_s: float
    summary: str | None
    attempts: tuple[AttemptRecord, ...]


@dataclass
class _Open:
    """The attempt being assembled from its phase reports."""

    outcome: TaskOutcome | None = None
    when: Phase = "setup"
    duration: float = 0.0
    worker: str | None = None
    summary: str | None = None
    subtest_failure: str | None = None
    called: bool = False


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


_PASSING: frozenset[TaskOutcome] = frozenset({"passed", "skipped", "xfailed", "xpassed"})


@dataclass
class Aggregator:
    """Collects phase reports and emits task results at the end of the session."""

    run_id: str
    attempts: dict[str, bytes] = field(default_factory=dict)
    """Node id -> its attempts so far (the fields of each :class:`AttemptRecord` in a
    plain tuple), in :mod:`marshal`'s bytes: not objects the garbage collector counts
    and tracks, of which every test kept two, and pytest runs a full collection each
    time enough have piled up (a 20,000-test run had one more than bare pytest)."""
    _open: dict[str, _Open] = field(default_factory=dict)
    on_final: Callable[[str], None] | None = None
    """Called with the node id when a final attempt (ended by teardown or a crash) closes."""

    def add(self, report: PhaseReport) -> None:
        current = self._open.get(report.node_id)
        if current is None:
            current = self._open[report.node_id] = _Open()
        if report.subtest:
            # A failed subtest fails its task; passing subtests say nothing new.
            if report.outcome == "failed" and current.subtest_failure is None:
                current.subtest_failure = report.summary or "a subtest failed"
            return
        current.duration += max(report.duration, 0.0)
        current.worker = report.worker or current.worker
        outcome = _phase_outcome(report)
        if report.when == "teardown":
            if outcome == "error" and (current.outcome is None or current.outcome in _PASSING):
                current.outcome, current.when, current.summary = "error", "teardown", report.summary
            self._close(report.node_id, final=True)
            return
        summary = report.summary
        if report.when == "call" and outcome in ("passed", "failed") and current.subtest_failure:
            # The first failed subtest says more than "contains 1 failed subtest".
            outcome, summary = "failed", current.subtest_failure
        if current.outcome is None or outcome != "passed" or report.when == "call":
            current.outcome, current.when, current.summary = outcome, report.when, summary
        current.called = current.called or report.when in ("call", "crash")
        if report.when == "crash" or report.outcome == "rerun":
            self._close(report.node_id, final=report.when == "crash")

    def _close(self, node_id: str, final: bool = False) -> None:
        current = self._open.pop(node_id)
        before = self._attempts(node_id)
        attempt = (  # plain str and float: marshal takes no subclass a plugin might hand over
            len(before) + 1,
            current.outcome or "passed",
            str(current.when),
            round(float(current.duration), 6),
            None if current.worker is None else str(current.worker),
            None if current.summary is None else str(current.summary),
        )
        self.attempts[node_id] = marshal.dumps((*before, attempt))
        if final and self.on_final is not None:
            self.on_final(node_id)

    def results(self, planned: Iterable[tuple[str, str]]) -> list[TaskRecord]:
        """Final results of the planned ``(node id, task id)`` pairs that reported."""
        for node_id, current in list(self._open.items()):
            # An attempt cut short (an interrupt): keep it only when it got past setup
            # or failed there; a test that was only set up did not run.
            if current.called or current.outcome not in (None, "passed"):
                self._close(node_id)
            else:
                del self._open[node_id]
        return [self.result(node_id, task_id) for node_id, task_id in planned if node_id in self.attempts]

    def _attempts(self, node_id: str) -> tuple[tuple[Any, ...], ...]:
        kept = self.attempts.get(node_id)
        return () if kept is None else marshal.loads(kept)

    def result(self, node_id: str, task_id: str) -> TaskRecord:
        """The result of a node's attempts so far, as task ``task_id``."""
        attempts = tuple(map(AttemptRecord._make, self._attempts(node_id)))
        final = attempts[-1]
        return TaskRecord(
            task_id=task_id,
            node_id=node_id,
            outcome=final.outcome,
            flaky=final.outcome in _PASSING and any(a.outcome in ("failed", "error") for a in attempts[:-1]),
            duration_s=round(sum(a.duration_s for a in attempts), 6),
            summary=final.summary,
            attempts=attempts,
        )


def render_task_result(run_id: str, result: ResultLike) -> bytes:
    """The bytes of a task result file, exactly as :func:`evidence.render` writes the
    :class:`~pytest_dome.models.TaskResult` model (sorted keys, two-space indent):
    about ten times faster, for the one artifact a run writes per test. ``result``
    is a :class:`TaskRecord` or a ``TaskResult``; a test holds the two renderings equal."""
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
