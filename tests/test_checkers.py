"""The schema verification suite of the seed: `pytest -q tests/test_checkers.py`.

Valid decisions of all three statuses pass; missing fields, extra fields,
unknown statuses, unknown reason codes and malformed digests are rejected.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pytest_dome.config.inputs import load_policy
from pytest_dome.contracts.models import VerifyCheck
from pytest_dome.core.checkers import check
from pytest_dome.core.gate import GateInputs, decision_digest, gate_decision, promotion_decision

POLICY = load_policy(None, "builtin")
OK_VERIFY = (VerifyCheck(argv=("ruff", "check"), status="passed", exit_code=0),)
INPUTS = {
    "APPROVE": ({"t-1": "passed", "t-2": "passed"}, 50.0),
    "NEEDS_HUMAN": ({"t-1": "passed", "t-2": "skipped"}, 0.0),
    "REJECT": ({"t-1": "passed", "t-2": "failed"}, 50.0),
}


def decisions(status: str) -> tuple[dict[str, Any], dict[str, Any]]:
    outcomes, threshold = INPUTS[status]
    inputs = GateInputs.from_outcomes(outcomes, verify=OK_VERIFY)
    policy = POLICY.model_copy(update={"threshold": threshold})
    gate = gate_decision("run-1", inputs, policy, "2026-11-24T10:00:00Z")
    promotion = promotion_decision(gate, "2026-11-24T10:00:00Z")
    return gate.model_dump(mode="json"), promotion.model_dump(mode="json")


STATUSES = list(INPUTS)


@pytest.mark.parametrize("status", STATUSES)
def test_valid_decisions_pass(status: str) -> None:
    gate, promotion = decisions(status)
    assert gate["status"] == status
    assert check("gate.decision", gate) == []
    assert check("promotion.decision", promotion) == []


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("field", ["status", "reason_codes", "risk", "checks", "decision_digest", "run_id"])
def test_missing_field_rejected(status: str, field: str) -> None:
    gate, _ = decisions(status)
    del gate[field]
    assert any(f"'{field}' is a required property" in p for p in check("gate.decision", gate))


@pytest.mark.parametrize("path", [(), ("risk",), ("checks",), ("checks", "tasks"), ("checks", "session")])
def test_extra_field_rejected(path: tuple[str, ...]) -> None:
    gate, _ = decisions("APPROVE")
    target = gate
    for key in path:
        target = target[key]
    target["surprise"] = 1
    assert any("Additional properties are not allowed" in p for p in check("gate.decision", gate))


GATE_STATUSES = "is not one of ['APPROVE', 'NEEDS_HUMAN', 'REJECT']"


@pytest.mark.parametrize("bad", ["APPROVED", "approve", "HOLD", "", None])
def test_unknown_status_rejected(bad: object) -> None:
    gate, promotion = decisions("APPROVE")
    gate["status"] = bad
    gate["decision_digest"] = decision_digest(gate)  # the digest does not object
    promotion["gate_status"] = bad
    # The schema's status enum names the value; the status/codes rule, which would
    # also object, says something else.
    assert f"status: {bad!r} {GATE_STATUSES}" in check("gate.decision", gate)
    assert f"gate_status: {bad!r} {GATE_STATUSES}" in check("promotion.decision", promotion)


@pytest.mark.parametrize("bad", ["ALL_GOOD", "task_failed", "", "RISK_BELOW_THRESHOLD "])
def test_unknown_reason_code_rejected(bad: str) -> None:
    gate, promotion = decisions("REJECT")
    gate["reason_codes"] = sorted([*gate["reason_codes"], bad])
    promotion["reason_codes"] = gate["reason_codes"]
    assert check("gate.decision", gate) != []
    assert check("promotion.decision", promotion) != []


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "0" * 63, "0" * 65, "sha256:" + "0" * 64, 42, None])
def test_malformed_digest_rejected(bad: object) -> None:
    gate, promotion = decisions("APPROVE")
    gate["decision_digest"] = bad
    promotion["gate_decision_digest"] = bad
    # The sha256 form (a string of 64 lower-case hex digits) is what rejects it, not
    # the digest's mismatch with the content, which would also object.
    expected = (
        f"{bad!r} does not match '^[0-9a-f]{{64}}$'"
        if isinstance(bad, str)
        else f"{bad!r} is not of type 'string'"
    )
    assert check("gate.decision", gate) == [f"decision_digest: {expected}"]
    assert check("promotion.decision", promotion) == [f"gate_decision_digest: {expected}"]


def test_digest_that_does_not_match_content_rejected() -> None:
    gate, _ = decisions("APPROVE")
    gate["decision_digest"] = "0" * 64
    assert check("gate.decision", gate) == ["decision_digest: does not match the decision's content"]


def test_tampered_content_breaks_the_digest() -> None:
    gate, _ = decisions("APPROVE")
    gate["risk"]["score"] = 1.0
    assert "decision_digest: does not match the decision's content" in check("gate.decision", gate)


@pytest.mark.parametrize(
    ("status", "codes"),
    [
        ("APPROVE", ["RISK_BELOW_THRESHOLD", "TASK_FAILED"]),
        ("REJECT", ["ALL_CHECKS_PASSED", "RISK_BELOW_THRESHOLD"]),
        ("APPROVE", ["ALL_CHECKS_PASSED", "RISK_AT_OR_ABOVE_THRESHOLD"]),
    ],
)
def test_status_must_follow_its_reason_codes(status: str, codes: list[str]) -> None:
    gate, _ = decisions("APPROVE")
    gate["status"], gate["reason_codes"] = status, codes
    assert any("imply" in p for p in check("gate.decision", gate))


def test_unsorted_or_duplicate_codes_rejected() -> None:
    gate, _ = decisions("REJECT")
    unsorted = copy.deepcopy(gate)
    unsorted["reason_codes"] = list(reversed(gate["reason_codes"]))
    assert "reason_codes: not sorted" in check("gate.decision", unsorted)
    gate["reason_codes"] = [*gate["reason_codes"], gate["reason_codes"][0]]
    assert check("gate.decision", gate) != []


@pytest.mark.parametrize(
    ("status", "action"), [("APPROVE", "hold"), ("NEEDS_HUMAN", "promote"), ("REJECT", "promote")]
)
def test_promotion_must_follow_xa01(status: str, action: str) -> None:
    _, promotion = decisions(status)
    promotion["action"] = action
    assert check("promotion.decision", promotion) != []


@pytest.mark.parametrize(
    ("score", "problem"),
    [
        (-1, "-1 is less than the minimum of 0"),
        (100.5, "100.5 is greater than the maximum of 100"),
        ("10", "'10' is not of type 'number'"),
    ],
    ids=["negative", "above-100", "string"],
)
def test_risk_score_out_of_range_rejected(score: object, problem: str) -> None:
    gate, _ = decisions("APPROVE")
    gate["risk"]["score"] = score
    gate["decision_digest"] = decision_digest(gate)  # the digest does not object
    assert check("gate.decision", gate) == [f"risk/score: {problem}"]
