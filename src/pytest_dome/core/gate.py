"""The gate and promotion decisions: pure functions of the recorded inputs.

No pytest, no file system, no clock: the plugin, ``dome merge`` and any replay
call the same functions with the same inputs and get the same decision and
digest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ..contracts import reasons as rc
from ..contracts.models import (
    TASK_OUTCOMES,
    ChangeSetCheck,
    Checks,
    Envelope,
    EnvelopeOverride,
    GateDecision,
    GateStatus,
    PluginFactor,
    PromotionAction,
    PromotionDecision,
    RiskPolicy,
    SessionFacts,
    TaskCounts,
    TaskOutcome,
    VerifyCheck,
)
from .canonical import digest, json_string, list_digest
from .comparison import Comparison, RecordedBaseline, compare
from .quarantine import SHIELDED_OUTCOMES, Applied
from .risk import baseline_policy, factor_values, score
from .verdict import TaskVerdict as TaskVerdict  # part of GateInputs' public API

PROMOTION: Mapping[GateStatus, PromotionAction] = {
    "APPROVE": "promote",
    "NEEDS_HUMAN": "hold",
    "REJECT": "stop",
}
"""Seed section XA-01: gate status -> promotion action."""

NO_INPUT_DIGEST = digest(None)
"""The input digest of a decision made without a recorded plan (pure tests)."""

_NOT_DIGESTED = frozenset({"run_id", "decided_at", "decision_digest"})

_VERIFY_CODES: Mapping[str, str] = {
    "failed": rc.VERIFY_FAILED,
    "timeout": rc.VERIFY_TIMEOUT,
    "error": rc.VERIFY_ERROR,
}

NOT_REQUESTED = ChangeSetCheck(status="not_requested", changed_files=0, sensitive_files=0)


@dataclass(frozen=True)
class GateInputs:
    """Everything a gate decision depends on: one verdict per planned task
    ('missing' when no final result arrived), the verify checks, what happened
    to the session, the change set, plugin factors, the input digest and, when the
    run is compared with one, the recorded baseline summary, and the quarantine."""

    tasks: Sequence[TaskVerdict]
    verify: Sequence[VerifyCheck] = ()
    session: SessionFacts = field(default_factory=SessionFacts)
    change_set: ChangeSetCheck = NOT_REQUESTED
    plugin_factors: Sequence[PluginFactor] = ()
    input_digest: str = NO_INPUT_DIGEST
    baseline: RecordedBaseline | None = None
    quarantine: Applied | None = None
    """The run's quarantine file applied to its plan, when it has one."""

    @classmethod
    def from_outcomes(cls, outcomes: Mapping[str, TaskOutcome], **kwargs: Any) -> GateInputs:
        return cls(tasks=[TaskVerdict(t, o) for t, o in outcomes.items()], **kwargs)


def results_digest(tasks: Sequence[TaskVerdict]) -> str:
    """:func:`~pytest_dome.core.canonical.digest` of the sorted rows ``[task_id, outcome,
    flaky, critical, risk_weight]``, hashed 2,000 rows at a time. Task ids are
    unique in a plan, whose tasks come sorted by id: then the rows are already in
    order and are made as hashed, not held (60,000 tasks: 7 MiB less at the peak)."""
    if all(a.task_id < b.task_id for a, b in pairwise(tasks)):
        return list_digest(tasks, _verdict_json)
    rows = sorted((t.task_id, t.outcome, t.flaky, t.critical, float(t.risk_weight)) for t in tasks)
    return list_digest(rows, _row_json)


def _verdict_json(task: TaskVerdict) -> str:
    return _row_json((task.task_id, task.outcome, task.flaky, task.critical, float(task.risk_weight)))


def _row_json(row: tuple[str, str, bool, bool, float]) -> str:
    """A row as ``canonical_json`` writes it."""
    task_id, outcome, flaky, critical, weight = row
    if not math.isfinite(weight):
        raise ValueError(f"risk weight {weight!r} of task {task_id!r} is not a finite number")
    return (
        f"[{json_string(task_id)},{json_string(outcome)},{'true' if flaky else 'false'},"
        f"{'true' if critical else 'false'},{weight!r}]"
    )


def count_tasks(tasks: Sequence[TaskVerdict]) -> TaskCounts:
    counts = Counter(t.outcome for t in tasks)
    return TaskCounts(
        planned=len(tasks),
        flaky=sum(1 for t in tasks if t.flaky),
        critical_not_passed=sum(1 for t in tasks if t.critical and not t.clean),
        results_digest=results_digest(tasks),
        **{outcome: counts.get(outcome, 0) for outcome in TASK_OUTCOMES},
    )


def _check_codes(checks: Checks, shielded: Mapping[str, int]) -> set[str]:
    """Reason codes of the deterministic checks (tasks, verify, session, change set,
    quarantine). ``shielded``: quarantined failures by outcome, which do not reject."""
    tasks, session, change = checks.tasks, checks.session, checks.change_set
    quarantine = checks.quarantine
    codes: set[str] = set()
    for count, code in (
        (tasks.failed - shielded.get("failed", 0), rc.TASK_FAILED),
        (tasks.error - shielded.get("error", 0), rc.TASK_ERROR),
        (tasks.missing, rc.TASK_RESULT_MISSING),
        (tasks.critical_not_passed, rc.CRITICAL_TASK_NOT_PASSED),
        (tasks.flaky, rc.TASK_FLAKY),
        (tasks.skipped, rc.TASKS_SKIPPED),
        (tasks.xfailed, rc.TASKS_XFAILED),
        (tasks.xpassed, rc.TASKS_XPASSED),
        (session.collection_errors, rc.COLLECTION_ERROR),
        (session.worker_crashes, rc.WORKER_CRASHED),
        (int(session.interrupted), rc.SESSION_INTERRUPTED),
        (int(session.internal_error), rc.INTERNAL_ERROR),
        (int(session.plan_missing), rc.PLAN_MISSING),
        (session.shards_missing, rc.SHARD_MISSING),
        (session.shards_duplicated, rc.SHARD_DUPLICATE),
        (int(tasks.planned == 0), rc.NO_TASKS),
        (int(not checks.verify), rc.VERIFY_NONE_CONFIGURED),
        (change.sensitive_files, rc.CHANGESET_SENSITIVE_PATHS),
        (int(change.status in ("no_git", "unresolved")), rc.BASE_REF_UNRESOLVED),
        (len(quarantine.failures) if quarantine else 0, rc.QUARANTINED_FAILURE),
        (len(quarantine.expired) if quarantine else 0, rc.QUARANTINE_EXPIRED),
        (len(quarantine.unmatched) if quarantine else 0, rc.QUARANTINE_UNMATCHED),
    ):
        if count:
            codes.add(code)
    for check in checks.verify:
        if check.status in _VERIFY_CODES:
            codes.add(_VERIFY_CODES[check.status])
        elif check.status == "not_run" and not session.interrupted:
            codes.add(rc.VERIFY_ERROR)
    return codes


def evaluate(inputs: GateInputs, policy: RiskPolicy) -> dict[str, Any]:
    """The deterministic content of the gate decision (everything that is digested).

    The seed's rules, in order: REJECT when a verify command fails or any
    implementer task fails (or errors, has no result, is critical and did not
    pass cleanly, or the session or its evidence broke); otherwise NEEDS_HUMAN
    when the risk score is not below the threshold (equal is not below), or
    when no task was planned; otherwise APPROVE. The threshold is the policy's.
    """
    comparison = None
    if inputs.baseline is not None:  # with a baseline: its check, factors and codes too
        comparison = compare(inputs.baseline, inputs.tasks, baseline_policy(policy))
    shielded = shielded_failures(inputs.tasks, inputs.quarantine)
    checks = Checks(
        tasks=count_tasks(inputs.tasks),
        verify=tuple(inputs.verify),
        session=inputs.session,
        change_set=inputs.change_set,
        baseline=comparison.check() if comparison else None,
        quarantine=inputs.quarantine.check(list(shielded)) if inputs.quarantine else None,
    )
    declared = sum((t.risk_weight for t in inputs.tasks if not t.clean), 0.0)
    values = factor_values(checks, declared, policy.change_set.saturate_at, len(shielded))
    if comparison is not None:
        values.update(comparison.factor_values(baseline_policy(policy)))
    risk = score(values, policy, inputs.plugin_factors)
    codes = _check_codes(checks, Counter(shielded.values()))
    codes |= _comparison_codes(comparison, shielded.keys()) if comparison else set()
    at_or_above = risk.score >= policy.threshold
    codes.add(rc.RISK_AT_OR_ABOVE_THRESHOLD if at_or_above else rc.RISK_BELOW_THRESHOLD)
    status: GateStatus
    if any(rc.IMPLIES[code] == "REJECT" for code in codes):
        status = "REJECT"
    else:
        codes.add(rc.ALL_CHECKS_PASSED)
        status = "NEEDS_HUMAN" if at_or_above or checks.tasks.planned == 0 else "APPROVE"
    return {
        "schema_version": "1.0.0",
        "kind": "gate.decision",
        "status": status,
        "reason_codes": sorted(codes),
        "input_digest": inputs.input_digest,
        "risk": risk.model_dump(mode="json"),
        "checks": checks.model_dump(mode="json"),
    }


def shielded_failures(tasks: Sequence[TaskVerdict], quarantine: Applied | None) -> dict[str, TaskOutcome]:
    """Task id -> outcome of the failures the quarantine shields: a task an unexpired
    entry matches that failed or errored and is not critical (a packet's critical
    task is never shielded: the quarantine file cannot overrule the packet)."""
    if quarantine is None:
        return {}
    matched = quarantine.matched
    return {
        t.task_id: t.outcome
        for t in tasks
        if t.task_id in matched and t.outcome in SHIELDED_OUTCOMES and not t.critical
    }


def _comparison_codes(comparison: Comparison, shielded: Collection[str]) -> set[str]:
    """The comparison's codes, without a new or known failure when every such failure
    is a shielded one (still counted in the comparison's factors)."""
    codes = comparison.codes()
    for failures, code in (
        (comparison.new_failures, rc.BASELINE_NEW_FAILURE),
        (comparison.known_failures, rc.BASELINE_KNOWN_FAILURE),
    ):
        if failures and all(task_id in shielded for task_id in failures):
            codes.discard(code)
    return codes


def decision_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical deterministic content of a gate decision."""
    return digest({k: v for k, v in content.items() if k not in _NOT_DIGESTED})


def gate_decision(run_id: str, inputs: GateInputs, policy: RiskPolicy, decided_at: str) -> GateDecision:
    content = evaluate(inputs, policy)
    return GateDecision.model_validate(
        {
            **content,
            "run_id": run_id,
            "decision_digest": decision_digest(content),
            "decided_at": decided_at,
        }
    )


def envelope(gate: GateDecision, promotion: PromotionDecision) -> Envelope:
    """Seed XA-01: the xtrlv2 decision envelope of a decision (and its override, if any)."""
    return Envelope(
        run_id=gate.run_id,
        state=promotion.action,
        gate_status=gate.status,
        reason_codes=gate.reason_codes,
        decision_digest=gate.decision_digest,
        input_digest=gate.input_digest,
        override=EnvelopeOverride(actor=promotion.override.actor, at=promotion.override.at)
        if promotion.override
        else None,
    )


def promotion_decision(gate: GateDecision, decided_at: str) -> PromotionDecision:
    """Seed XA-01: the promotion action, carrying the gate's reason codes unchanged."""
    action = PROMOTION[gate.status]
    return PromotionDecision(
        run_id=gate.run_id,
        action=action,
        gate_status=gate.status,
        reason_codes=gate.reason_codes,
        requires_override=action == "hold",
        gate_decision_digest=gate.decision_digest,
        decided_at=decided_at,
    )
