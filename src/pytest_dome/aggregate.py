"""Aggregate per-phase test reports into one result per implementer task.

Runs on the controller only (or the single process when serial). Reports are
keyed by node id, never by "the last report seen", because under xdist the
reports of different items interleave.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .models import Attempt, Phase, TaskOutcome, TaskResult
from .taskid import task_id_for

SUMMARY_CHARS = 1000


@dataclass(frozen=True)
class PhaseReport:
    """The builtin-typed essence of one pytest report."""

    node_id: str
    when: Phase
    outcome: str  # pytest's: passed | failed | skipped
    wasxfail: bool
    duration: float
    worker: str | None
    summary: str | None
    subtest: bool = False


@dataclass
class _Open:
    """The attempt being assembled from its phase reports."""

    outcome: TaskOutcome | None = None
    when: Phase = "setup"
    duration: float = 0.0
    worker: str | None = None
    summary: str | None = None
    subtest_failure: str | None = None


def _phase_outcome(report: PhaseReport) -> TaskOutcome:
    if report.when == "crash":
        return "failed"
    if report.when in ("setup", "teardown") and report.outcome == "failed":
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
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    _open: dict[str, _Open] = field(default_factory=dict)

    def add(self, report: PhaseReport) -> None:
        current = self._open.setdefault(report.node_id, _Open())
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
            self._close(report.node_id)
            return
        summary = report.summary
        if report.when == "call" and outcome in ("passed", "failed") and current.subtest_failure:
            # The first failed subtest says more than "contains 1 failed subtest".
            outcome, summary = "failed", current.subtest_failure
        if current.outcome is None or outcome != "passed" or report.when == "call":
            current.outcome, current.when, current.summary = outcome, report.when, summary
        if report.when == "crash":
            self._close(report.node_id)

    def _close(self, node_id: str) -> None:
        current = self._open.pop(node_id)
        attempts = self.attempts.setdefault(node_id, [])
        attempts.append(
            Attempt(
                number=len(attempts) + 1,
                outcome=current.outcome or "passed",
                when=current.when,
                duration_s=round(current.duration, 6),
                worker=current.worker,
                summary=current.summary,
            )
        )

    def results(self, planned: Iterable[str]) -> list[TaskResult]:
        """One result per planned node id (and per node id that reported but was not planned)."""
        for node_id in list(self._open):
            self._close(node_id)  # an attempt cut short (interrupt): keep what it reported
        node_ids = dict.fromkeys(planned)
        node_ids.update(dict.fromkeys(sorted(self.attempts)))
        return [self._result(node_id) for node_id in node_ids]

    def _result(self, node_id: str) -> TaskResult:
        attempts = tuple(self.attempts.get(node_id, ()))
        final = attempts[-1] if attempts else None
        return TaskResult(
            run_id=self.run_id,
            task_id=task_id_for(node_id),
            node_id=node_id,
            outcome=final.outcome if final else "missing",
            duration_s=round(sum(a.duration_s for a in attempts), 6),
            summary=final.summary if final else "no final report arrived for this task",
            attempts=attempts,
        )
