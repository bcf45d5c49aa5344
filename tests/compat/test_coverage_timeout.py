"""pytest-cov and pytest-timeout with a gated run (issue 19, rows 1 and 2)."""

from __future__ import annotations

import sys

import pytest

from .conftest import attempts, check_decision

MYMOD = """
def half(x):
    if x % 2:
        return None
    return x // 2
"""
TESTS = """
import mymod

def test_even():
    assert mymod.half(4) == 2

def test_zero():
    assert mymod.half(0) == 0
"""
NODES = {"test_mymod.py::test_even", "test_mymod.py::test_zero"}
COVERAGE_ROW = r"mymod.py\s+4\s+1\s+75%"  # the odd branch is never run


@pytest.fixture
def covered(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(mymod=MYMOD, test_mymod=TESTS)
    return pytester


@pytest.mark.compat("pytest-cov", "--cov=mymod")
def test_cov_option(covered, gated, row, how):
    run = gated(how, "--cov=mymod", plugins=["pytest-cov"])
    run.result.stdout.re_match_lines([COVERAGE_ROW])
    assert run.result.ret == 0
    ev = check_decision(run, row)
    assert set(ev.tasks) == NODES


@pytest.mark.compat("pytest-cov", "addopts = --cov=mymod")
def test_cov_in_addopts(covered, gated, row, how):
    covered.makeini("[pytest]\naddopts = --cov=mymod\n")
    run = gated(how, plugins=["pytest-cov"])
    run.result.stdout.re_match_lines([COVERAGE_ROW])
    assert run.result.ret == 0
    ev = check_decision(run, row)
    assert set(ev.tasks) == NODES


@pytest.mark.compat("pytest-cov", "--cov=mymod -n 2")
def test_cov_explicit_workers(covered, gated, row, how):
    run = gated(how, "--cov=mymod", "-n", "2", plugins=["pytest-cov"])
    run.result.stdout.re_match_lines([COVERAGE_ROW])
    ev = check_decision(run, row)
    assert ev.manifest["execution"] == {"mode": "xdist", "workers": 2}
    assert set(ev.tasks) == NODES


@pytest.mark.compat("pytest-cov", "--cov=mymod --cov-fail-under=100")
def test_cov_fail_under(covered, gated, row, how):
    """Coverage under the bar fails the session (exit 1), after the gate has
    decided on the tests: the decision does not read coverage."""
    run = gated(how, "--cov=mymod", "--cov-fail-under=100", plugins=["pytest-cov"])
    run.result.stdout.re_match_lines([COVERAGE_ROW, r".*Required test coverage of 100% not reached.*"])
    assert run.result.ret == 1
    ev = check_decision(run, row)
    assert set(ev.outcomes.values()) == {"passed"}
    assert set(ev.tasks) == NODES


HANGS = """
import time

def test_hangs():
    time.sleep(3)

def test_quick():
    pass
"""


@pytest.mark.compat("pytest-timeout", "--timeout=1 --timeout-method=signal")
def test_timeout_signal(pytester, gated, row, how):
    """The test sleeps past the timeout on every attempt: every attempt times out."""
    pytester.makepyfile(test_hang=HANGS)
    run = gated(how, "--timeout=1", "--timeout-method=signal", plugins=["pytest-timeout"])
    ev = check_decision(run, row)
    assert set(ev.tasks) == {"test_hang.py::test_hangs", "test_hang.py::test_quick"}
    hang = ev.tasks["test_hang.py::test_hangs"]
    assert hang["outcome"] == "failed"
    assert attempts(ev, "test_hang.py::test_hangs") == [("failed", "call")] * 2  # dome's one retry
    assert all("Timeout (>1.0s)" in a["summary"] for a in hang["attempts"]), hang["attempts"]
    assert run.result.ret == 1


@pytest.mark.compat("pytest-timeout", "--timeout=1 --timeout-method=thread")
def test_timeout_thread(pytester, gated, row, how):
    """The thread method ends the process that runs the test (os._exit): a
    worker at the default fanout (the run goes on and decides), the whole
    pytest process serially (no decision is written)."""
    pytester.makepyfile(test_hang=HANGS)
    run = gated(how, "--timeout=1", "--timeout-method=thread", plugins=["pytest-timeout"])
    assert run.result.ret == 1
    if how == "fanout":
        run.result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running 'test_hang.py::test_hangs'*"])
        ev = check_decision(run, row)
        assert set(ev.tasks) == {"test_hang.py::test_hangs", "test_hang.py::test_quick"}
        assert attempts(ev, "test_hang.py::test_hangs") == [("failed", "crash")]
        assert ev.outcomes["test_hang.py::test_quick"] == "passed"
        return
    # Serially the process is gone: the run started and never decided, and the tools say so.
    run.result.stdout.fnmatch_lines(
        [
            "dome: pytest-timeout's thread method ends the whole process when a test times out*",
            "*+ Timeout +*",
        ]
    )  # the plugin's stack dump, then os._exit(1)
    assert "dome release gate" not in run.out
    assert (run.run_dir / "run.started.json").is_file()
    assert not (run.run_dir / "run.manifest.json").exists()
    dome = [sys.executable, "-m", "pytest_dome"]
    verify = pytester.run(*dome, "verify", str(run.run_dir))
    assert verify.ret == 1
    verify.stderr.fnmatch_lines(
        ["*EVIDENCE_MISSING*the run started but never committed a decision (killed?)"]
    )
    status = pytester.run(*dome, "status", str(run.run_dir))
    assert status.ret == 2
    status.stderr.fnmatch_lines(
        ["*: EVIDENCE_MISSING run.manifest.json: the run started but never committed a decision (killed?)"]
    )
    slo = pytester.run(*dome, "slo", "ops/runtime/runs", "--out", "slo.json")
    slo.stdout.fnmatch_lines([f"*SLO-1 MISSED: 0.00% (0/1)*missed: {run.run_dir.name}"])
