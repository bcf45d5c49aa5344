"""Runs that go wrong still end with a terminal decision that says why."""

from __future__ import annotations

import pytest


def test_worker_crash_rejects(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("import os\ndef test_ok(): pass\ndef test_crash(): os._exit(3)\n")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "-n", "2")
    assert result.ret == 1
    run = dome_run()
    assert run.gate["status"] == "REJECT"
    assert {"TASK_FAILED", "WORKER_CRASHED"} <= set(run.gate["reason_codes"])
    crashed = run.tasks["test_worker_crash_rejects.py::test_crash"]
    assert crashed["attempts"][0]["when"] == "crash" and "crashed while running" in crashed["summary"]


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "n2"])
def test_maxfail_is_an_interruption(pytester: pytest.Pytester, dome_run, mode: list[str]) -> None:
    pytester.makepyfile("def test_a(): assert 0\n" + "".join(f"def test_{i}(): pass\n" for i in range(6)))
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "-x", *mode)
    assert result.ret != 0
    gate = dome_run().gate
    assert gate["status"] == "REJECT" and gate["checks"]["session"]["interrupted"] is True
    assert {"SESSION_INTERRUPTED", "TASK_FAILED"} <= set(gate["reason_codes"])


def test_keyboard_interrupt_skips_verify_and_rejects(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_a(): raise KeyboardInterrupt\ndef test_b(): pass\n")
    result = pytester.runpytest_subprocess(
        "--dome-run-id=r1", "-p", "no:xdist", "--dome-verify=python -c pass"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    run = dome_run()
    assert run.gate["status"] == "REJECT" and "SESSION_INTERRUPTED" in run.gate["reason_codes"]
    assert [c["status"] for c in run.verify["commands"]] == ["not_run"]
    assert run.outcomes["test_keyboard_interrupt_skips_verify_and_rejects.py::test_b"] == "missing"


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "n2"])
def test_collection_error_rejects(pytester: pytest.Pytester, dome_run, mode: list[str]) -> None:
    pytester.makepyfile(test_ok="def test_ok(): pass", test_broken="import no_such_module_here")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", *mode)
    assert result.ret != 0
    gate = dome_run().gate
    assert gate["status"] == "REJECT" and "COLLECTION_ERROR" in gate["reason_codes"]
    assert gate["checks"]["session"]["collection_errors"] == 1


def test_broken_session_start_still_decides(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makeconftest("def pytest_sessionstart(session): raise RuntimeError('broken start')")
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["decision: REJECT*"])
    gate = dome_run().gate
    assert gate["status"] == "REJECT" and "INTERNAL_ERROR" in gate["reason_codes"]


def test_verify_timeout_rejects(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest(
        "--dome-run-id=r1",
        "--dome-verify=python -c 'import time; time.sleep(30)'",
        "--dome-verify-timeout=0.5",
    )
    assert result.ret == 1
    run = dome_run()
    (command,) = run.verify["commands"]
    assert command["status"] == "timeout" and command["exit_code"] is None
    assert "VERIFY_TIMEOUT" in run.gate["reason_codes"]
