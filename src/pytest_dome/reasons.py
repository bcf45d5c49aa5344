"""Every reason code the code can emit, with the gate status it implies.

``ssot/policy/reason.codes.json`` is the authoritative catalog; ``just
validate-ssot`` and the tests check that this table and the catalog agree.
"""

from __future__ import annotations

from typing import Final

from .models import GATE_STATUSES, GateStatus

ALL_CHECKS_PASSED: Final = "ALL_CHECKS_PASSED"
BASE_REF_UNRESOLVED: Final = "BASE_REF_UNRESOLVED"
CHANGESET_SENSITIVE_PATHS: Final = "CHANGESET_SENSITIVE_PATHS"
CRITICAL_TASK_NOT_PASSED: Final = "CRITICAL_TASK_NOT_PASSED"
PLAN_MISSING: Final = "PLAN_MISSING"
SHARD_DUPLICATE: Final = "SHARD_DUPLICATE"
SHARD_MISSING: Final = "SHARD_MISSING"
TASK_FLAKY: Final = "TASK_FLAKY"
COLLECTION_ERROR: Final = "COLLECTION_ERROR"
INTERNAL_ERROR: Final = "INTERNAL_ERROR"
NO_TASKS: Final = "NO_TASKS"
RISK_AT_OR_ABOVE_THRESHOLD: Final = "RISK_AT_OR_ABOVE_THRESHOLD"
RISK_BELOW_THRESHOLD: Final = "RISK_BELOW_THRESHOLD"
SESSION_INTERRUPTED: Final = "SESSION_INTERRUPTED"
TASKS_SKIPPED: Final = "TASKS_SKIPPED"
TASKS_XFAILED: Final = "TASKS_XFAILED"
TASKS_XPASSED: Final = "TASKS_XPASSED"
TASK_ERROR: Final = "TASK_ERROR"
TASK_FAILED: Final = "TASK_FAILED"
TASK_RESULT_MISSING: Final = "TASK_RESULT_MISSING"
VERIFY_ERROR: Final = "VERIFY_ERROR"
VERIFY_FAILED: Final = "VERIFY_FAILED"
VERIFY_NONE_CONFIGURED: Final = "VERIFY_NONE_CONFIGURED"
VERIFY_TIMEOUT: Final = "VERIFY_TIMEOUT"
WORKER_CRASHED: Final = "WORKER_CRASHED"

IMPLIES: Final[dict[str, GateStatus]] = {
    ALL_CHECKS_PASSED: "APPROVE",
    BASE_REF_UNRESOLVED: "APPROVE",
    CHANGESET_SENSITIVE_PATHS: "APPROVE",
    CRITICAL_TASK_NOT_PASSED: "REJECT",
    PLAN_MISSING: "REJECT",
    SHARD_DUPLICATE: "REJECT",
    SHARD_MISSING: "REJECT",
    TASK_FLAKY: "APPROVE",
    COLLECTION_ERROR: "REJECT",
    INTERNAL_ERROR: "REJECT",
    NO_TASKS: "NEEDS_HUMAN",
    RISK_AT_OR_ABOVE_THRESHOLD: "NEEDS_HUMAN",
    RISK_BELOW_THRESHOLD: "APPROVE",
    SESSION_INTERRUPTED: "REJECT",
    TASKS_SKIPPED: "APPROVE",
    TASKS_XFAILED: "APPROVE",
    TASKS_XPASSED: "APPROVE",
    TASK_ERROR: "REJECT",
    TASK_FAILED: "REJECT",
    TASK_RESULT_MISSING: "REJECT",
    VERIFY_ERROR: "REJECT",
    VERIFY_FAILED: "REJECT",
    VERIFY_NONE_CONFIGURED: "APPROVE",
    VERIFY_TIMEOUT: "REJECT",
    WORKER_CRASHED: "REJECT",
}
"""Code -> the gate status it implies on its own."""


def severity(status: GateStatus) -> int:
    return GATE_STATUSES.index(status)


def implied_status(codes: tuple[str, ...]) -> GateStatus:
    """The most severe status implied by ``codes`` (the catalog's consistency rule)."""
    return max((IMPLIES[c] for c in codes), key=severity, default="APPROVE")
