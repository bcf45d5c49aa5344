"""The decision's inputs: what a run records, read as the gate reads it.

``DecisionInputs`` is everything in a run folder but the decisions: the session
builds it at its finish, ``dome merge`` from the shards, replay and ``dome verify``
from the folder; each decides with :meth:`DecisionInputs.decide`, the one path to a
decision. Pure: no pytest, no file system, no clock (the time of the decision is an
argument).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..contracts.models import (
    ChangeSet,
    ChangeSetCheck,
    GateDecision,
    GateStatus,
    PromotionDecision,
    QuarantineFile,
    RiskPolicy,
    SessionRecord,
    TaskOutcome,
    VerifyCheck,
    VerifyResults,
)
from .aggregate import TaskResult
from .comparison import Comparison, RecordedBaseline, compare
from .gate import GateInputs, evaluate, gate_decision, promotion_decision
from .plan import Plan, PlannedTask
from .quarantine import apply
from .risk import baseline_policy
from .verdict import TaskVerdict


def change_set_check(change_set: ChangeSet) -> ChangeSetCheck:
    """What the gate reads of the change set: its status and two counts."""
    return ChangeSetCheck(
        status=change_set.status,
        changed_files=len(change_set.files),
        sensitive_files=len(change_set.sensitive_files),
    )


def gated_exit_status(
    exit_status: int, status: GateStatus, fail_on: Iterable[str], quarantined_only: bool = False
) -> int:
    """pytest's exit status, raised when the gate status must fail the job. Lowered in
    one case only: ``quarantined_only``, the tests that failed (pytest's 1) were all
    shielded by the quarantine (the gate did not reject), and the status is not in
    ``fail_on``: then 0, or a quarantine could never keep a CI job going."""
    if quarantined_only and exit_status == 1 and status != "REJECT":
        exit_status = 0
    if status in fail_on and exit_status == 0:
        return 1
    return exit_status


@dataclass(frozen=True)
class DecisionInputs:
    """The recorded inputs of a decision: everything in a run folder but the decisions."""

    run_id: str
    plan: Plan
    change_set: ChangeSet
    packet_document: Any
    policy: RiskPolicy
    outcomes: Mapping[str, tuple[TaskOutcome, bool]]
    """Task id -> outcome and flakiness of each planned task that reported (a shard:
    of its own only): what the gate reads of a task result."""
    verify: VerifyResults
    session: SessionRecord
    baseline: RecordedBaseline | None = None
    """The recorded summary of the baseline run (``--dome-baseline``), if any."""
    durations: Mapping[str, float] = field(default_factory=dict)
    """Task id -> the task result's ``duration_s`` (the session fills it only for a
    run with a baseline: the gate reads durations only then)."""
    quarantine: QuarantineFile | None = None
    """The recorded quarantine file (``inputs/quarantine.json``), if any."""
    as_of: str = ""
    """The UTC day the run started (``quarantine.as_of_day`` of the manifest's
    ``started_at``): the day quarantine entries are judged expired against. Read
    only with a quarantine file."""

    def verdicts(self) -> list[TaskVerdict]:
        missing: tuple[TaskOutcome, bool] = ("missing", False)
        verdicts = []
        durations = self.durations
        for task in self.plan.tasks:
            outcome, flaky = self.outcomes.get(task.task_id, missing)
            verdicts.append(
                TaskVerdict(
                    task.task_id,
                    outcome,
                    flaky,
                    task.critical,
                    task.risk_weight,
                    durations.get(task.task_id, 0.0),
                )
            )
        return verdicts

    def comparison(self, baseline: RecordedBaseline | None = None) -> Comparison | None:
        """The comparison with ``baseline`` (default: the run's own), with node ids for
        people; the gate's own comparison, made again."""
        baseline = baseline or self.baseline
        if baseline is None:
            return None
        names = {t.task_id: t.node_id for t in self.plan.tasks}
        return compare(baseline, self.verdicts(), baseline_policy(self.policy), names)

    def gate_inputs(self) -> GateInputs:
        return GateInputs(
            tasks=self.verdicts(),
            verify=tuple(
                VerifyCheck(argv=c.argv, status=c.status, exit_code=c.exit_code) for c in self.verify.commands
            ),
            session=self.session.facts,
            change_set=change_set_check(self.change_set),
            plugin_factors=self.session.plugin_factors,
            input_digest=self.plan.input_digest,
            baseline=self.baseline,
            quarantine=apply(self.quarantine, self.as_of, self.plan.tasks) if self.quarantine else None,
        )

    def evaluate(self, policy: RiskPolicy | None = None) -> dict[str, Any]:
        """The decision's digested content (``gate.evaluate``), as :meth:`decide` makes
        it; with ``policy``, a what-if under another policy. Replay and ``dome verify``
        compare it with the recorded decision."""
        return evaluate(self.gate_inputs(), policy or self.policy)

    def decide(self, decided_at: str) -> tuple[GateDecision, PromotionDecision]:
        gate = gate_decision(self.run_id, self.gate_inputs(), self.policy, decided_at)
        return gate, promotion_decision(gate, decided_at)


def missing_result(task: PlannedTask) -> TaskResult:
    """The result of a planned task no final report arrived for: each planned task has
    exactly one final result in the run folder."""
    return TaskResult(
        task_id=task.task_id,
        node_id=task.node_id,
        outcome="missing",
        flaky=False,
        duration_s=0.0,
        summary="no final report arrived for this task",
        attempts=(),
    )


def outcomes_of(results: Iterable[TaskResult]) -> dict[str, tuple[TaskOutcome, bool]]:
    return {r.task_id: (r.outcome, r.flaky) for r in results}
