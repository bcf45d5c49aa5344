"""The pure core: risk score, gate and promotion decisions, with plain values and Hypothesis."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_dome.config.inputs import load_policy
from pytest_dome.contracts import reasons
from pytest_dome.contracts.models import (
    TASK_OUTCOMES,
    ChangeSetCheck,
    PluginFactor,
    SessionFacts,
    VerifyCheck,
)
from pytest_dome.core.checkers import check
from pytest_dome.core.gate import GateInputs, TaskVerdict, gate_decision, promotion_decision

POLICY = load_policy(None, "builtin")
PASS = VerifyCheck(argv=("make", "lint"), status="passed", exit_code=0)
FAIL = VerifyCheck(argv=("make", "lint"), status="failed", exit_code=2)
WHEN = "2026-11-24T10:00:00Z"


NO_INCIDENT = SessionFacts()


def decide(outcomes, verify=(PASS,), session=NO_INCIDENT, threshold=50.0, **more):
    inputs = GateInputs.from_outcomes(outcomes, verify=verify, session=session, **more)
    return gate_decision("run-1", inputs, POLICY.model_copy(update={"threshold": threshold}), WHEN)


def test_all_passed_approves() -> None:
    gate = decide({"a": "passed", "b": "passed"})
    assert gate.status == "APPROVE"
    assert gate.reason_codes == ("ALL_CHECKS_PASSED", "RISK_BELOW_THRESHOLD")
    assert gate.risk.score == 0


@pytest.mark.parametrize("outcome", ["failed", "error", "missing"])
def test_any_failing_task_rejects(outcome: str) -> None:
    gate = decide({"a": "passed", "b": outcome})
    assert gate.status == "REJECT"
    code = {"failed": "TASK_FAILED", "error": "TASK_ERROR", "missing": "TASK_RESULT_MISSING"}[outcome]
    assert code in gate.reason_codes and "ALL_CHECKS_PASSED" not in gate.reason_codes


@pytest.mark.parametrize(
    ("status", "code"),
    [("failed", "VERIFY_FAILED"), ("timeout", "VERIFY_TIMEOUT"), ("error", "VERIFY_ERROR")],
)
def test_failing_verify_rejects_green_tasks(status: str, code: str) -> None:
    gate = decide({"a": "passed"}, verify=(PASS, VerifyCheck(argv=("x",), status=status, exit_code=None)))
    assert gate.status == "REJECT" and code in gate.reason_codes


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        (SessionFacts(collection_errors=1), "COLLECTION_ERROR"),
        (SessionFacts(interrupted=True), "SESSION_INTERRUPTED"),
        (SessionFacts(worker_crashes=1), "WORKER_CRASHED"),
        (SessionFacts(internal_error=True), "INTERNAL_ERROR"),
    ],
)
def test_session_incidents_reject(facts: SessionFacts, code: str) -> None:
    gate = decide({"a": "passed"}, session=facts)
    assert gate.status == "REJECT" and code in gate.reason_codes
    assert {f.name: f.contribution for f in gate.risk.factors}["session_incident"] == 40


def test_score_equal_to_threshold_needs_human() -> None:
    # 1 of 10 skipped: skipped_rate 0.1 * weight 20 = 2.00
    outcomes = {f"t{i}": "passed" for i in range(9)} | {"t9": "skipped"}
    at = decide(outcomes, threshold=2.0)
    assert at.risk.score == 2.0 and at.status == "NEEDS_HUMAN"
    assert "RISK_AT_OR_ABOVE_THRESHOLD" in at.reason_codes and "ALL_CHECKS_PASSED" in at.reason_codes
    below = decide(outcomes, threshold=2.01)
    assert below.status == "APPROVE" and "RISK_BELOW_THRESHOLD" in below.reason_codes


def test_worked_example_of_the_score() -> None:
    # 8 tasks: 5 passed, 1 skipped, 1 xfailed, 1 xpassed; no verify command.
    outcomes = dict(zip("abcdefgh", ["passed"] * 5 + ["skipped", "xfailed", "xpassed"], strict=True))
    gate = decide(outcomes, verify=())
    contributions = {f.name: f.contribution for f in gate.risk.factors if f.contribution}
    assert contributions == {
        "skipped_rate": 2.5,
        "xfailed_rate": 1.25,
        "xpassed_rate": 1.25,
        "verify_missing": 10,
    }
    assert gate.risk.score == 15.0 and gate.status == "APPROVE"
    assert gate.reason_codes == (
        "ALL_CHECKS_PASSED",
        "RISK_BELOW_THRESHOLD",
        "TASKS_SKIPPED",
        "TASKS_XFAILED",
        "TASKS_XPASSED",
        "VERIFY_NONE_CONFIGURED",
    )


def test_contributions_round_half_up() -> None:
    # 1 of 6 xfailed: 10 / 6 = 1.666.. -> 1.67
    gate = decide({"a": "xfailed", **{c: "passed" for c in "bcdef"}})
    assert {f.name: f.contribution for f in gate.risk.factors}["xfailed_rate"] == 1.67


def test_score_is_capped_at_100() -> None:
    gate = decide({"a": "failed"}, verify=(FAIL,), session=SessionFacts(interrupted=True))
    assert gate.risk.score == 100


def test_no_tasks_needs_human() -> None:
    gate = decide({})
    assert gate.status == "NEEDS_HUMAN" and "NO_TASKS" in gate.reason_codes


@pytest.mark.parametrize(
    ("status", "action"), [("APPROVE", "promote"), ("NEEDS_HUMAN", "hold"), ("REJECT", "stop")]
)
def test_promotion_follows_xa01(status: str, action: str) -> None:
    outcomes = {"APPROVE": {"a": "passed"}, "NEEDS_HUMAN": {}, "REJECT": {"a": "failed"}}[status]
    gate = decide(outcomes)
    promotion = promotion_decision(gate, WHEN)
    assert (gate.status, promotion.action) == (status, action)
    assert promotion.reason_codes == gate.reason_codes
    assert promotion.gate_decision_digest == gate.decision_digest
    assert promotion.requires_override is (action == "hold")


# --- properties ---------------------------------------------------------------

task_ids = st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=8)
outcome_maps = st.dictionaries(task_ids, st.sampled_from(TASK_OUTCOMES), max_size=30)
verify_checks = st.lists(
    st.builds(
        VerifyCheck,
        argv=st.tuples(st.sampled_from(["ruff", "mypy", "make"])),
        status=st.sampled_from(["passed", "failed", "timeout", "error", "not_run"]),
        exit_code=st.none() | st.integers(0, 3),
    ),
    max_size=3,
)
sessions = st.builds(
    SessionFacts,
    collection_errors=st.integers(0, 2),
    interrupted=st.booleans(),
    worker_crashes=st.integers(0, 2),
    internal_error=st.booleans(),
)
thresholds = st.integers(0, 10000).map(lambda c: c / 100)


@settings(max_examples=300)
@given(outcome_maps, verify_checks, sessions, thresholds)
def test_decision_follows_the_seed(outcomes, verify, session, threshold) -> None:
    gate = decide(outcomes, tuple(verify), session, threshold)
    failing = (
        any(o in ("failed", "error", "missing") for o in outcomes.values())
        or any(v.status != "passed" for v in verify)
        or session != SessionFacts()
    )
    if failing:
        expected = "REJECT"
    elif gate.risk.score >= threshold or not outcomes:
        expected = "NEEDS_HUMAN"
    else:
        expected = "APPROVE"
    assert gate.status == expected
    assert gate.status == reasons.implied_status(gate.reason_codes)
    assert list(gate.reason_codes) == sorted(set(gate.reason_codes))
    assert check("gate.decision", gate.model_dump(mode="json")) == []
    assert check("promotion.decision", promotion_decision(gate, WHEN).model_dump(mode="json")) == []


@given(outcome_maps, verify_checks, sessions, thresholds, st.randoms())
def test_digest_ignores_order_run_id_and_time(outcomes, verify, session, threshold, rnd) -> None:
    items = list(outcomes.items())
    rnd.shuffle(items)
    first = decide(outcomes, tuple(verify), session, threshold)
    again = gate_decision(
        "another-run",
        GateInputs.from_outcomes(dict(items), verify=tuple(verify), session=session),
        POLICY.model_copy(update={"threshold": threshold}),
        "2030-01-01T00:00:00Z",
    )
    assert again.decision_digest == first.decision_digest


@given(outcome_maps.filter(bool), st.data())
def test_changing_an_outcome_changes_the_digest(outcomes, data) -> None:
    task = data.draw(st.sampled_from(sorted(outcomes)))
    other = data.draw(st.sampled_from([o for o in TASK_OUTCOMES if o != outcomes[task]]))
    before = decide(outcomes)
    after = decide({**outcomes, task: other})
    assert before.decision_digest != after.decision_digest


def test_threshold_and_policy_change_the_digest() -> None:
    base = decide({"a": "passed"})
    assert decide({"a": "passed"}, threshold=40).decision_digest != base.decision_digest
    heavier = POLICY.model_copy(update={"policy_id": "other"})
    other = gate_decision("run-1", GateInputs.from_outcomes({"a": "passed"}, verify=(PASS,)), heavier, WHEN)
    assert other.decision_digest != base.decision_digest


def varied_inputs() -> GateInputs:
    """Inputs whose decision has many reason codes and risk factors: every one a
    chance for an order that depends on the process (a set, a hash) to show."""
    rnd = random.Random(7)
    tasks = [
        TaskVerdict(
            f"t{i:02}",
            rnd.choice(TASK_OUTCOMES),
            flaky=rnd.random() < 0.2,
            critical=rnd.random() < 0.2,
            risk_weight=rnd.choice([0.0, 2.5, 10.0]),
        )
        for i in range(50)
    ]
    rnd.shuffle(tasks)
    return GateInputs(
        tasks=tasks,
        verify=(PASS, FAIL, VerifyCheck(argv=("slow",), status="timeout", exit_code=None)),
        session=SessionFacts(collection_errors=1, interrupted=True, worker_crashes=2, internal_error=True),
        change_set=ChangeSetCheck(status="resolved", changed_files=7, sensitive_files=2),
        plugin_factors=tuple(
            PluginFactor(name=name, weight=5, value=0.5) for name in ("zeta", "alpha", "mu", "beta", "omega")
        ),
    )


IN_A_FRESH_PROCESS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from test_gate import POLICY, WHEN, gate_decision, varied_inputs
print(json.dumps(gate_decision("run-1", varied_inputs(), POLICY, WHEN).model_dump(mode="json")))
"""


def test_decision_is_the_same_in_other_processes_and_hash_seeds() -> None:
    here = gate_decision("run-1", varied_inputs(), POLICY, WHEN).model_dump(mode="json")
    assert len(here["reason_codes"]) >= 12 and len(here["risk"]["factors"]) >= 10
    for seed in ("0", "1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", IN_A_FRESH_PROCESS, str(Path(__file__).parent)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(done.stdout) == here, f"PYTHONHASHSEED={seed}"


# --- order independence of the whole path: reports -> results -> decision -----

PHASES = st.sampled_from(
    [
        [("setup", "passed"), ("call", "passed"), ("teardown", "passed")],
        [("setup", "passed"), ("call", "failed"), ("teardown", "passed")],
        [("setup", "failed"), ("teardown", "passed")],
        [("call", "rerun"), ("setup", "passed"), ("call", "passed"), ("teardown", "passed")],
        [("setup", "skipped"), ("teardown", "passed")],
    ]
)


@settings(max_examples=100)
@given(st.lists(PHASES, min_size=1, max_size=8), st.randoms())
def test_decision_ignores_report_interleaving(sequences, rnd) -> None:
    from pytest_dome.core.aggregate import Aggregator, PhaseReport

    streams = [
        [PhaseReport(f"n{i}", when, outcome, False, 0.1, f"gw{i % 2}", None) for when, outcome in seq]
        for i, seq in enumerate(sequences)
    ]
    planned = [(f"n{i}", f"t{i}") for i in range(len(streams))]

    def decide_from(order):
        agg = Aggregator("r")
        for report in order:
            agg.add(report)
        results = agg.results(planned)
        inputs = GateInputs(
            tasks=[TaskVerdict(r.task_id, r.outcome, r.flaky) for r in reversed(results)], verify=(PASS,)
        )
        return gate_decision("r", inputs, POLICY, WHEN).decision_digest

    in_order = [r for stream in streams for r in stream]
    cursors = [list(s) for s in streams]
    interleaved = []
    while any(cursors):
        pick = rnd.choice([c for c in cursors if c])
        interleaved.append(pick.pop(0))
    assert decide_from(in_order) == decide_from(interleaved)
