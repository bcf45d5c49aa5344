"""Tests that other plugins rerun, and failed subtests (issue 19, rows 3 and 4):
attempts are recorded as they ran, with the user's counts, and a test that
passed only on a rerun is flaky, whoever reran it."""

from __future__ import annotations

import pytest

from .conftest import FLAKY_STATE, attempts, check_decision

RERUN_TESTS = """
from state import fails_first

def test_fails_twice():
    fails_first("twice", times=2)

def test_passes():
    pass
"""
ALWAYS_FAILS = """
def test_always_fails():
    assert False, "broken every time"
"""


@pytest.mark.compat("pytest-rerunfailures", "--reruns 2")
def test_rerunfailures(pytester, gated, row, how):
    """The user's two reruns are run and recorded, not one more (dome's own
    retry steps aside for them) and not one less; it says so at the start."""
    pytester.makepyfile(state=FLAKY_STATE, test_rr=RERUN_TESTS, test_broken=ALWAYS_FAILS)
    run = gated(how, "--reruns", "2", plugins=["pytest-rerunfailures"])
    assert run.result.parseoutcomes() == {"passed": 2, "failed": 1, "rerun": 4}  # the plugin's own count
    ev = check_decision(run, row)
    assert set(ev.tasks) == {
        "test_rr.py::test_fails_twice",
        "test_rr.py::test_passes",
        "test_broken.py::test_always_fails",
    }
    assert attempts(ev, "test_rr.py::test_fails_twice") == [("failed", "call")] * 2 + [("passed", "call")]
    assert ev.tasks["test_rr.py::test_fails_twice"]["flaky"] is True
    assert attempts(ev, "test_broken.py::test_always_fails") == [("failed", "call")] * 3
    assert attempts(ev, "test_rr.py::test_passes") == [("passed", "call")]
    assert (pytester.path / ".calls-twice").read_text() == "3"
    run.result.stdout.fnmatch_lines(["dome: pytest-rerunfailures reruns every test (--reruns 2)*"])


@pytest.mark.compat("pytest-rerunfailures", "--reruns 2 --dome-max-retries=0")
def test_rerunfailures_without_dome_retries(pytester, gated, row, how):
    """No phantom attempts: three runs, three attempts."""
    pytester.makepyfile(state=FLAKY_STATE, test_rr=RERUN_TESTS)
    run = gated(how, "--reruns", "2", "--dome-max-retries=0", plugins=["pytest-rerunfailures"])
    assert run.result.parseoutcomes() == {"passed": 2, "rerun": 2}
    ev = check_decision(run, row)
    assert set(ev.tasks) == {"test_rr.py::test_fails_twice", "test_rr.py::test_passes"}
    assert attempts(ev, "test_rr.py::test_fails_twice") == [("failed", "call")] * 2 + [("passed", "call")]
    assert ev.tasks["test_rr.py::test_fails_twice"]["flaky"] is True


FLAKY_TESTS = """
import pytest
from flaky import flaky
from state import fails_first

@flaky(max_runs=3)
def test_fails_twice():
    fails_first("twice", times=2)

@pytest.mark.flaky(max_runs=3)  # flaky's marker form: flaky's too, not dome's
def test_marked_fails_twice():
    fails_first("marked", times=2)

def test_passes():
    pass
"""


@pytest.mark.compat("flaky", "@flaky(max_runs=3)")
def test_flaky(pytester, gated, row, how):
    """flaky's three runs are honoured (dome's one retry would not pass this
    test) and recorded as attempts: the test is flaky in the decision."""
    pytester.makepyfile(state=FLAKY_STATE, test_fl=FLAKY_TESTS)
    run = gated(how, plugins=["flaky"])
    run.result.assert_outcomes(passed=3)
    ev = check_decision(run, row)
    assert set(ev.tasks) == {
        f"test_fl.py::{t}" for t in ("test_fails_twice", "test_marked_fails_twice", "test_passes")
    }
    for name, calls in (("test_fails_twice", "twice"), ("test_marked_fails_twice", "marked")):
        assert attempts(ev, f"test_fl.py::{name}") == [("failed", "call")] * 2 + [("passed", "call")]
        assert ev.tasks[f"test_fl.py::{name}"]["flaky"] is True
        assert (pytester.path / f".calls-{calls}").read_text() == "3"
    run.result.stdout.fnmatch_lines(
        ["dome: flaky reruns the tests marked @flaky in place of dome's own retries*"]
    )


@pytest.mark.compat("flaky", "@flaky(max_runs=3) --dome-max-retries=0")
def test_flaky_without_dome_retries(pytester, gated, row, how):
    pytester.makepyfile(state=FLAKY_STATE, test_fl=FLAKY_TESTS)
    run = gated(how, "--dome-max-retries=0", plugins=["flaky"])
    run.result.assert_outcomes(passed=3)
    ev = check_decision(run, row)
    assert attempts(ev, "test_fl.py::test_fails_twice") == [("failed", "call")] * 2 + [("passed", "call")]
    assert ev.tasks["test_fl.py::test_fails_twice"]["flaky"] is True


SUBTESTS = """
from state import fails_first

def test_with_subtests(subtests):
    for n in range(3):
        with subtests.test(n=n):
            if n == 1:
                fails_first("subtest", times=1)

def test_plain():
    fails_first("plain", times=1)
"""


@pytest.mark.compat("pytest", "a subtest failing once")
def test_subtest_retried(pytester, gated, row, how):
    """A test whose subtest failed is retried like a plain failing test."""
    pytester.makepyfile(state=FLAKY_STATE, test_sub=SUBTESTS)
    run = gated(how)
    ev = check_decision(run, row)
    assert set(ev.tasks) == {"test_sub.py::test_with_subtests", "test_sub.py::test_plain"}
    for node in ev.tasks:
        assert ev.tasks[node]["outcome"] == "passed"
        assert ev.tasks[node]["flaky"] is True
        assert attempts(ev, node) == [("failed", "call"), ("passed", "call")]
    assert (pytester.path / ".calls-subtest").read_text() == "2"
