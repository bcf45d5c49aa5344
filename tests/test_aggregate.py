"""Aggregation of phase reports into one result per task."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_dome.core.aggregate import Aggregator, PhaseReport


def rep(
    node: str,
    when: str,
    outcome: str,
    *,
    wasxfail: bool = False,
    summary: str | None = None,
    subtest: bool = False,
) -> PhaseReport:
    return PhaseReport(node, when, outcome, wasxfail, 0.5, "gw0", summary, subtest)  # type: ignore[arg-type]


def outcome_of(*reports: PhaseReport) -> tuple[str, str, str | None]:
    agg = Aggregator("r")
    for r in reports:
        agg.add(r)
    (result,) = agg.results([("n", "n")])
    (attempt,) = result.attempts
    return result.outcome, attempt.when, result.summary


def test_passed() -> None:
    assert outcome_of(
        rep("n", "setup", "passed"), rep("n", "call", "passed"), rep("n", "teardown", "passed")
    ) == ("passed", "call", None)


def test_setup_failure_is_an_error() -> None:
    assert outcome_of(rep("n", "setup", "failed", summary="boom"), rep("n", "teardown", "passed")) == (
        "error",
        "setup",
        "boom",
    )


def test_teardown_failure_after_pass_is_an_error() -> None:
    got = outcome_of(
        rep("n", "setup", "passed"),
        rep("n", "call", "passed"),
        rep("n", "teardown", "failed", summary="td"),
    )
    assert got == ("error", "teardown", "td")


def test_call_failure_survives_teardown_error() -> None:
    got = outcome_of(
        rep("n", "setup", "passed"),
        rep("n", "call", "failed", summary="c"),
        rep("n", "teardown", "failed", summary="td"),
    )
    assert got == ("failed", "call", "c")


def test_xfail_xpass_and_skip() -> None:
    assert (
        outcome_of(
            rep("n", "setup", "passed"),
            rep("n", "call", "skipped", wasxfail=True),
            rep("n", "teardown", "passed"),
        )[0]
        == "xfailed"
    )
    assert (
        outcome_of(
            rep("n", "setup", "passed"),
            rep("n", "call", "passed", wasxfail=True),
            rep("n", "teardown", "passed"),
        )[0]
        == "xpassed"
    )
    assert outcome_of(rep("n", "setup", "skipped"), rep("n", "teardown", "passed"))[0] == "skipped"


def test_worker_crash_fails_the_task() -> None:
    assert outcome_of(
        rep("n", "setup", "passed"), rep("n", "crash", "failed", summary="worker 'gw0' crashed")
    ) == ("failed", "crash", "worker 'gw0' crashed")


def test_failed_subtest_fails_a_passing_test() -> None:
    got = outcome_of(
        rep("n", "setup", "passed"),
        rep("n", "call", "failed", subtest=True, summary="sub"),
        rep("n", "call", "passed", subtest=True),
        rep("n", "call", "passed"),
        rep("n", "teardown", "passed"),
    )
    assert got == ("failed", "call", "sub")


def test_interleaved_reports_are_keyed_by_node() -> None:
    agg = Aggregator("r")
    for r in [
        rep("a", "setup", "passed"),
        rep("b", "setup", "passed"),
        rep("b", "call", "failed"),
        rep("a", "call", "passed"),
        rep("a", "teardown", "passed"),
        rep("b", "teardown", "passed"),
    ]:
        agg.add(r)
    assert {r.node_id: r.outcome for r in agg.results([("a", "a"), ("b", "b")])} == {
        "a": "passed",
        "b": "failed",
    }


def test_planned_task_without_reports_has_no_result() -> None:
    assert Aggregator("r").results([("never-ran", "t")]) == []


def test_test_that_was_only_set_up_did_not_run() -> None:
    agg = Aggregator("r")
    agg.add(rep("n", "setup", "passed"))
    assert agg.results([("n", "n")]) == []


def test_rerun_reports_are_earlier_attempts_and_make_a_pass_flaky() -> None:
    agg = Aggregator("r")
    for r in [
        rep("n", "call", "rerun", summary="first"),
        rep("n", "setup", "rerun", summary="fx"),
        rep("n", "setup", "passed"),
        rep("n", "call", "passed"),
        rep("n", "teardown", "passed"),
    ]:
        agg.add(r)
    (result,) = agg.results([("n", "task-n")])
    assert result.task_id == "task-n" and result.outcome == "passed" and result.flaky
    assert [(a.number, a.outcome, a.when) for a in result.attempts] == [
        (1, "failed", "call"),
        (2, "error", "setup"),
        (3, "passed", "call"),
    ]


def test_attempt_cut_short_keeps_what_it_reported() -> None:
    agg = Aggregator("r")
    agg.add(rep("n", "setup", "passed"))
    agg.add(rep("n", "call", "failed", summary="x"))
    (result,) = agg.results([("n", "n")])
    assert result.outcome == "failed" and len(result.attempts) == 1


@settings(max_examples=100)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=()), max_size=40),
            st.floats(min_value=0, max_value=1e6, allow_nan=False),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_attempts_keep_every_summary_and_duration_exactly(attempts: list[tuple[str, float]]) -> None:
    agg = Aggregator("r")
    for summary, duration in attempts[:-1]:  # earlier attempts, failed and retried
        agg.add(PhaseReport("n", "call", "rerun", False, duration, None, summary))
    summary, duration = attempts[-1]
    agg.add(PhaseReport("n", "call", "failed", False, duration, "gw1", summary))
    agg.add(PhaseReport("n", "teardown", "passed", False, 0.0, "gw1", None))
    (result,) = agg.results([("n", "t")])
    assert [(a.number, a.summary, a.duration_s) for a in result.attempts] == [
        (i + 1, s, round(d, 6)) for i, (s, d) in enumerate(attempts)
    ]
    assert result.attempts[-1].worker == "gw1" and result.outcome == "failed"


def test_values_of_str_and_float_subclasses_are_kept_as_plain_ones() -> None:
    class Text(str):
        pass

    class Seconds(float):
        pass

    agg = Aggregator("r")
    agg.add(PhaseReport("n", Text("call"), "failed", False, Seconds(0.25), Text("gw0"), Text("boom")))  # type: ignore[arg-type]
    agg.add(PhaseReport("n", "teardown", "passed", False, 0.0, Text("gw0"), None))
    (attempt,) = agg.results([("n", "t")])[0].attempts
    assert attempt == (1, "failed", "call", 0.25, "gw0", "boom")
    assert {type(v) for v in attempt[2:]} == {str, float}


def test_the_closing_reports_task_id_reaches_on_final_as_an_argument() -> None:
    """The task id travels with the report that closes a final attempt, and only then:
    a retried attempt's teardown closes nothing final; a crash names no task."""
    finals: list[tuple[str, str | None]] = []
    agg = Aggregator("r", on_final=lambda node_id, task_id: finals.append((node_id, task_id)))
    agg.add(PhaseReport("a", "call", "rerun", False, 0.1, None, "boom"))
    agg.add(PhaseReport("a", "teardown", "passed", False, 0.0, None, None, task_id="t-a"))
    agg.add(PhaseReport("b", "call", "passed", False, 0.1, None, None))
    assert finals == []  # a's attempt was a rerun; b is still open
    agg.add(PhaseReport("a", "call", "passed", False, 0.1, None, None))
    agg.add(PhaseReport("b", "teardown", "passed", False, 0.0, None, None, task_id="t-b"))
    agg.add(PhaseReport("a", "teardown", "passed", False, 0.0, None, None, task_id="t-a"))
    agg.add(PhaseReport("c", "crash", "failed", False, 0.0, "gw0", "worker died"))
    assert finals == [("b", "t-b"), ("a", "t-a"), ("c", None)]
