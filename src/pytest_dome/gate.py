"""The gate and promotion decisions: pure functions of the recorded inputs.

No pytest, no file system, no clock: the plugin and any replay call the same
functions with the same inputs and get the same decision and digest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import reasons as rc
from .canonical import digest
from .models import (
    TASK_OUTCOMES,
    Checks,
    GateDecision,
    GateStatus,
    PromotionAction,
    PromotionDecision,
    RiskPolicy,
    SessionFacts,
    TaskCounts,
    TaskOutcome,
    VerifyCheck,
)
from .risk import factor_values, score

PROMOTION: Mapping[GateStatus, PromotionAction] = {
    "APPROVE": "promote",
    "NEEDS_HUMAN": "hold",
    "REJECT": "stop",
}
"""Seed section XA-01: gate status -> promotion action."""

_NOT_DIGESTED = frozenset({"run_id", "decided_at", "decision_digest"})

_VERIFY_CODES: Mapping[str, str] = {
    "failed": rc.VERIFY_FAILED,
    "timeout": rc.VERIFY_TIMEOUT,
    "error": rc.VERIFY_ERROR,
}


@dataclass(frozen=True)
class GateInputs:
    """Everything a gate decision depends on.

    ``outcomes`` maps every planned task id to its final outcome ('missing'
    when no final result arrived).
    """

    outcomes: Mapping[str, TaskOutcome]
    verify: Sequence[VerifyCheck] = ()
    session: SessionFacts = field(default_factory=SessionFacts)


def results_digest(outcomes: Mapping[str, TaskOutcome]) -> str:
    return digest(sorted([task_id, outcome] for task_id, outcome in outcomes.items()))


def count_tasks(outcomes: Mapping[str, TaskOutcome]) -> TaskCounts:
    counts = Counter(outcomes.values())
    return TaskCounts(
        planned=len(outcomes),
        results_digest=results_digest(outcomes),
        **{outcome: counts.get(outcome, 0) for outcome in TASK_OUTCOMES},
    )


def _check_codes(checks: Checks) -> set[str]:
    """Reason codes of the deterministic checks (tasks, verify, session)."""
    tasks, session = checks.tasks, checks.session
    codes: set[str] = set()
    for count, code in (
        (tasks.failed, rc.TASK_FAILED),
        (tasks.error, rc.TASK_ERROR),
        (tasks.missing, rc.TASK_RESULT_MISSING),
        (tasks.skipped, rc.TASKS_SKIPPED),
        (tasks.xfailed, rc.TASKS_XFAILED),
        (tasks.xpassed, rc.TASKS_XPASSED),
        (session.collection_errors, rc.COLLECTION_ERROR),
        (session.worker_crashes, rc.WORKER_CRASHED),
        (int(session.interrupted), rc.SESSION_INTERRUPTED),
        (int(session.internal_error), rc.INTERNAL_ERROR),
        (int(tasks.planned == 0), rc.NO_TASKS),
        (int(not checks.verify), rc.VERIFY_NONE_CONFIGURED),
    ):
        if count:
            codes.add(code)
    for check in checks.verify:
        if check.status in _VERIFY_CODES:
            codes.add(_VERIFY_CODES[check.status])
        elif check.status == "not_run" and not session.interrupted:
            codes.add(rc.VERIFY_ERROR)
    return codes


def checks_pass(checks: Checks) -> bool:
    """Seed: every deterministic verification check passed and no task failed.

    A task that errored or has no final result, a collection error, an
    interruption, a worker crash or an internal error also fail the checks.
    """
    return not any(rc.IMPLIES[code] == "REJECT" for code in _check_codes(checks))


def evaluate(inputs: GateInputs, policy: RiskPolicy, threshold: float) -> dict[str, Any]:
    """The deterministic content of the gate decision (everything that is digested).

    The seed's rules, in order:
    REJECT when a verify command fails or any implementer task fails (or
    errors, or has no result, or the session broke); otherwise NEEDS_HUMAN
    when the risk score is not below the threshold (equal is not below), or
    when no task was planned; otherwise APPROVE.
    """
    checks = Checks(
        tasks=count_tasks(inputs.outcomes),
        verify=tuple(inputs.verify),
        session=inputs.session,
    )
    risk = score(factor_values(checks.tasks, checks.verify, checks.session), policy, threshold)
    codes = _check_codes(checks)
    codes.add(
        rc.RISK_AT_OR_ABOVE_THRESHOLD if risk.score >= risk.threshold else rc.RISK_BELOW_THRESHOLD
    )
    status: GateStatus
    if not checks_pass(checks):
        status = "REJECT"
    elif risk.score >= risk.threshold or checks.tasks.planned == 0:
        status = "NEEDS_HUMAN"
        codes.add(rc.ALL_CHECKS_PASSED)
    else:
        status = "APPROVE"
        codes.add(rc.ALL_CHECKS_PASSED)
    content = {
        "schema_version": "1.0.0",
        "kind": "gate.decision",
        "status": status,
        "reason_codes": sorted(codes),
        "risk": risk.model_dump(mode="json"),
        "checks": checks.model_dump(mode="json"),
    }
    return content


def decision_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical deterministic content of a gate decision."""
    return digest({k: v for k, v in content.items() if k not in _NOT_DIGESTED})


def gate_decision(
    run_id: str, inputs: GateInputs, policy: RiskPolicy, threshold: float, decided_at: str
) -> GateDecision:
    content = evaluate(inputs, policy, threshold)
    return GateDecision.model_validate(
        {
            **content,
            "run_id": run_id,
            "decision_digest": decision_digest(content),
            "decided_at": decided_at,
        }
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
