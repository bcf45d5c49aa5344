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


class _Open:
    """The attempt being assembled from its phase reports (slots: one per running
    test, made and read on every report)."""

    __slots__ = ("called", "duration", "outcome", "phase", "rerun", "summary", "when", "worker")

    def __init__(self) -> None:
        self.outcome: TaskOutcome | None = None
        self.when: Phase = "setup"
        self.duration = 0.0
        self.worker: str | None = None
        self.summary: str | None = None
        self.called = False
        self.rerun = False
        """A report of this attempt was logged as a rerun: the test runs again."""
        self.phase = -1
        """The order of the last phase reported (see ``_ORDER``)."""


def _phase_outcome(when: str, outcome: str, wasxfail: bool) -> TaskOutcome:
    if when == "crash":
        return "failed"
    if when in ("setup", "teardown") and outcome in ("failed", "rerun"):
        return "error"
    if outcome == "skipped":
        return "xfailed" if wasxfail else "skipped"
    if outcome == "passed":
        return "xpassed" if wasxfail else "passed"
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
        self.add_phase(*report)

    def add_phase(
        self,
        node_id: str,
        when: Phase,
        outcome: str,
        wasxfail: bool,
        duration: float,
        worker: str | None,
        summary: str | None,
        subtest: bool = False,
        retried: bool = False,
        task_id: str | None = None,
    ) -> None:
        """:meth:`add` of a :class:`PhaseReport`'s fields, without the record: the
        intake's way, three times a test."""
        if subtest:
            # A failed subtest fails its task; passing subtests say nothing new.
            if outcome in ("failed", "rerun"):
                self._subtest_failure.setdefault(node_id, summary or "a subtest failed")
            return
        phase = _ORDER.get(when, 3)
        current = self._open.get(node_id)
        if current is None:
            current = self._open[node_id] = _Open()
        elif phase <= current.phase or (when == "crash" and current.rerun):
            # A phase again, or a crash after a rerun: a new attempt, while the last one
            # logged no teardown (dome's retry logs only a retried attempt's failure).
            self._close(node_id, final=False)
            current = self._open[node_id] = _Open()
        if outcome == "rerun":
            current.rerun = True
        current.phase = phase
        current.duration += max(duration, 0.0)
        if worker:
            current.worker = worker
        shown = _phase_outcome(when, outcome, wasxfail)
        if when == "teardown":
            if shown == "error" and (current.outcome is None or current.outcome in _PASSING):
                current.outcome, current.when, current.summary = "error", "teardown", summary
            self._close(node_id, final=not (current.rerun or retried), task_id=task_id)
            return
        if when == "call":
            current.called = True
            subtest_failure = self._subtest_failure.pop(node_id, None) if self._subtest_failure else None
            if subtest_failure is not None and shown in ("passed", "failed"):
                # The first failed subtest says more than "contains 1 failed subtest".
                shown, summary = "failed", subtest_failure
            current.outcome, current.when, current.summary = shown, when, summary
        elif current.outcome is None or shown != "passed":
            current.outcome, current.when, current.summary = shown, when, summary
        if when == "crash":
            current.called = True
            self._close(node_id, final=True, task_id=task_id)

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
        kept = self.attempts[node_id]
        final = kept[-1]
        return TaskResult(
            task_id,
            node_id,
            final[1],
            _flaky(final[1], kept),
            self.duration(node_id),
            final[5],
            tuple(map(Attempt._make, kept)),
        )

    def render(self, node_id: str, task_id: str) -> bytes:
        """:func:`render_task_result` of :meth:`result`, from the kept attempts as they
        are: no result built, for the file each task's final attempt writes."""
        kept = self.attempts[node_id]
        final = kept[-1]
        flaky = _flaky(final[1], kept)
        return _render(self.run_id, task_id, node_id, final[1], flaky, self.duration(node_id), final[5], kept)


def _flaky(final: TaskOutcome, attempts: tuple[tuple[Any, ...], ...]) -> bool:
    """Passed in the end after an attempt that failed or errored."""
    return final in _PASSING and any(a[1] in ("failed", "error") for a in attempts[:-1])


def render_task_result(run_id: str, result: TaskResult) -> bytes:
    """The bytes of a task result file, as ``evidence.render`` writes any artifact
    (sorted keys, two-space indent): the only renderer of this artifact, about ten
    times faster than building the document and dumping it, for the one file a run
    writes per test. A property test holds it to ``json.dumps`` and the schema."""
    return _render(run_id, *result)


def _render(
    run_id: str,
    task_id: str,
    node_id: str,
    outcome: str,
    flaky: bool,
    duration_s: float,
    summary: str | None,
    attempts: Iterable[tuple[Any, ...]],
) -> bytes:
    """The one template of :func:`render_task_result`, over a result's fields; each
    attempt the fields of an :class:`Attempt`, by position (an ``Attempt`` or an
    exact tuple of the aggregator's)."""
    text = ",".join(
        "\n    {\n"
        f'      "duration_s": {float(a[3])!r},\n'
        f'      "number": {int(a[0])},\n'
        f'      "outcome": {_string(a[1])},\n'
        f'      "summary": {_string(a[5])},\n'
        f'      "when": {_string(a[2])},\n'
        f'      "worker": {_string(a[4])}\n'
        "    }"
        for a in attempts
    )
    text = (f'{{\n  "attempts": [{text}\n  ],\n' if text else '{\n  "attempts": [],\n') + (
        f'  "duration_s": {float(duration_s)!r},\n'
        f'  "flaky": {"true" if flaky else "false"},\n'
        '  "kind": "task.result",\n'
        f'  "node_id": {_string(node_id)},\n'
        f'  "outcome": {_string(outcome)},\n'
        f'  "run_id": {_string(run_id)},\n'
        f'  "schema_version": "{SCHEMA_VERSION}",\n'
        f'  "summary": {_string(summary)},\n'
        f'  "task_id": {_string(task_id)}\n'
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
