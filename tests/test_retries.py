"""Retries run like first attempts, and every plugin's attempts are recorded as run.

The real plugins (pytest-timeout, pytest-cov, pytest-rerunfailures, flaky) are
exercised in ``tests/compat/``, in an environment of their own; here the same
mechanics are held with small plugins of the test's own and plain report streams.
"""

from __future__ import annotations

import pytest

from conftest import Mode
from pytest_dome.core.aggregate import Aggregator, PhaseReport

# A protocol wrapper like pytest-timeout's: it arms a one-shot timer around each
# call of the protocol and disarms it after. A retry run inside the first call
# (dome's old loop) finds the timer spent; a retry outside it finds none.
ARMING_PLUGIN = """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item):
    item.armed = True
    yield
    item.armed = False
"""


def test_every_attempt_runs_inside_other_plugins_protocol_wrappers(
    pytester: pytest.Pytester, dome_run, mode: Mode
) -> None:
    pytester.makeconftest(ARMING_PLUGIN)
    pytester.makepyfile(
        """
        import pathlib
        def test_fails_once(request):
            assert request.node.armed, "this attempt ran without its own protocol wrapper"
            request.node.armed = False  # spent
            mark = pathlib.Path(__file__).with_name("attempted")
            if not mark.exists():
                mark.write_text("1")
                assert False, "first attempt fails"
        """
    )
    result = pytester.runpytest("--dome-run-id=r1", "--dome-max-retries=2", *mode.args)
    assert result.ret == 0, result.stdout.str()
    (task,) = dome_run().tasks.values()
    assert [a["outcome"] for a in task["attempts"]] == ["failed", "passed"] and task["flaky"] is True
    assert "first attempt fails" in task["attempts"][0]["summary"]


def test_a_test_that_fails_inside_the_wrapper_every_time_is_rejected(
    pytester: pytest.Pytester, dome_run, mode: Mode
) -> None:
    # pytest-timeout's case: the timer fires in every attempt of a test that hangs
    # every time; a retry without its timer would pass when the hang ends.
    pytester.makeconftest(ARMING_PLUGIN)
    pytester.makepyfile(
        """
        def test_hangs(request):
            if request.node.armed:
                request.node.armed = False  # the timer fires once
                raise AssertionError("Timeout (>1.0s)")
        def test_ok(): pass
        """
    )
    result = pytester.runpytest("--dome-run-id=r1", "--dome-max-retries=2", *mode.args)
    assert result.ret == 1
    run = dome_run()
    hangs = next(t for t in run.tasks.values() if t["node_id"].endswith("test_hangs"))
    assert [a["outcome"] for a in hangs["attempts"]] == ["failed", "failed", "failed"]
    assert run.gate["status"] == "REJECT" and "TASK_FAILED" in run.gate["reason_codes"]


SUBTESTS = """
import pathlib

def test_subtest_fails_once(subtests):
    mark = pathlib.Path(__file__).with_name("attempted")
    with subtests.test(msg="first"):
        if not mark.exists():
            mark.write_text("1")
            assert False, "subtest fails once"
    with subtests.test(msg="second"):
        pass

def test_subtest_always_fails(subtests):
    with subtests.test(msg="always"):
        assert False, "subtest always fails"
"""


@pytest.mark.skipif(not hasattr(pytest, "Subtests"), reason="built-in subtests came with pytest 9")
def test_a_test_whose_subtest_failed_is_retried_like_any_failing_test(
    pytester: pytest.Pytester, dome_run, mode: Mode
) -> None:
    pytester.makepyfile(SUBTESTS)
    result = pytester.runpytest("--dome-run-id=r1", "--dome-max-retries=1", *mode.args)
    assert result.ret == 1
    run = dome_run()
    by_name = {t["node_id"].rsplit("::", 1)[1]: t for t in run.tasks.values()}
    once, always = by_name["test_subtest_fails_once"], by_name["test_subtest_always_fails"]
    assert [a["outcome"] for a in once["attempts"]] == ["failed", "passed"] and once["flaky"] is True
    assert "subtest fails once" in once["attempts"][0]["summary"]
    assert [a["outcome"] for a in always["attempts"]] == ["failed", "failed"]
    assert always["outcome"] == "failed" and "subtest always fails" in always["summary"]
    assert run.gate["status"] == "REJECT" and {"TASK_FAILED", "TASK_FLAKY"} <= set(run.gate["reason_codes"])


def _attempts(*reports: tuple[str, str] | tuple[str, str, str]) -> list[tuple[int, str, str]]:
    agg = Aggregator("r")
    for when, outcome, *kind in reports:
        agg.add(
            PhaseReport(
                "n",
                when,  # type: ignore[arg-type]
                outcome,
                False,
                0.1,
                None,
                f"{when} {outcome}",
                subtest=kind == ["subtest"],
                retried=kind == ["retried"],
            )
        )
    (result,) = agg.results([("n", "t")])
    return [(a.number, a.outcome, a.when) for a in result.attempts]


def test_rerunfailures_logs_every_phase_of_a_rerun_attempt_and_no_phantom_attempt_is_made() -> None:
    # pytest-rerunfailures 16: setup, the failing call as 'rerun', and the teardown, per attempt.
    stream = [("setup", "passed"), ("call", "rerun"), ("teardown", "passed")] * 2
    stream += [("setup", "passed"), ("call", "passed"), ("teardown", "passed")]
    assert _attempts(*stream) == [(1, "failed", "call"), (2, "failed", "call"), (3, "passed", "call")]


def test_an_attempt_whose_teardown_says_it_was_retried_is_not_the_last() -> None:
    # flaky keeps its rerun attempts' failing calls back; the task runner logs them.
    stream = [("setup", "passed"), ("call", "rerun"), ("teardown", "passed", "retried")]
    stream += [("setup", "passed"), ("call", "passed"), ("teardown", "passed", "retried")]
    stream += [("setup", "passed"), ("call", "passed"), ("teardown", "passed")]
    assert _attempts(*stream) == [(1, "failed", "call"), (2, "passed", "call"), (3, "passed", "call")]


def test_subtests_logged_before_their_attempts_setup_still_fail_its_call() -> None:
    # dome's retry and rerunfailures log an attempt's phases after it ran; its
    # subtests logged themselves while it ran, so they come first.
    stream = [("call", "rerun", "subtest"), ("setup", "passed"), ("call", "rerun")]
    stream += [("call", "failed", "subtest"), ("setup", "passed"), ("call", "passed"), ("teardown", "passed")]
    assert _attempts(*stream) == [(1, "failed", "call"), (2, "failed", "call")]


def test_a_worker_crash_in_a_retry_is_an_attempt_of_its_own() -> None:
    # dome's retry logs only a retried attempt's failing report; a crash of the
    # worker in the next attempt must not fold into it.
    assert _attempts(("call", "rerun"), ("crash", "failed")) == [
        (1, "failed", "call"),
        (2, "failed", "crash"),
    ]
