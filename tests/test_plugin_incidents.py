"""Runs that go wrong still end with a terminal decision that says why."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Mode


def test_worker_crash_rejects(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("import os\ndef test_ok(): pass\ndef test_crash(): os._exit(3)\n")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "-n", "2")
    assert result.ret == 1
    run = dome_run()
    assert run.gate["status"] == "REJECT"
    assert {"TASK_FAILED", "WORKER_CRASHED"} <= set(run.gate["reason_codes"])
    crashed = run.tasks["test_worker_crash_rejects.py::test_crash"]
    assert crashed["attempts"][0]["when"] == "crash" and "crashed while running" in crashed["summary"]


def test_maxfail_is_an_interruption(pytester: pytest.Pytester, dome_run, mode: Mode) -> None:
    pytester.makepyfile("def test_a(): assert 0\n" + "".join(f"def test_{i}(): pass\n" for i in range(6)))
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "-x", *mode.args)
    # pytest's own statuses (security.md): a failed test serially, an interruption
    # under xdist (its workers are stopped).
    expected = pytest.ExitCode.TESTS_FAILED if mode.workers == 0 else pytest.ExitCode.INTERRUPTED
    assert result.ret == expected
    run = dome_run()
    gate = run.gate
    assert (gate["status"], run.promotion["action"]) == ("REJECT", "stop")
    assert run.manifest["exit_status"] == expected
    assert gate["checks"]["session"]["interrupted"] is True
    assert {"SESSION_INTERRUPTED", "TASK_FAILED"} <= set(gate["reason_codes"])
    assert run.outcomes["test_maxfail_is_an_interruption.py::test_a"] == "failed"


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


def test_collection_error_rejects(pytester: pytest.Pytester, dome_run, mode: Mode) -> None:
    pytester.makepyfile(test_ok="def test_ok(): pass", test_broken="import no_such_module_here")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", *mode.args)
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


# A verify command that starts a child (not holding its output pipe, so that only
# the kill, not the pipe, decides whether the child outlives the command).
GRANDCHILD = (
    "import subprocess as s, sys, time; "
    "child = s.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], "
    "stdout=s.DEVNULL, stderr=s.DEVNULL); "
    "open('grandchild.pid', 'w').write(str(child.pid)); time.sleep(300)"
)


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed and not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_verify_timeout_rejects_and_kills_what_the_command_started(
    pytester: pytest.Pytester, dome_run
) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest(
        "--dome-run-id=r1", f'--dome-verify=python -c "{GRANDCHILD}"', "--dome-verify-timeout=2"
    )
    assert result.ret == 1
    run = dome_run()
    (command,) = run.verify["commands"]
    assert command["status"] == "timeout" and command["exit_code"] is None
    assert "VERIFY_TIMEOUT" in run.gate["reason_codes"]
    grandchild = int((pytester.path / "grandchild.pid").read_text())
    deadline = time.monotonic() + 10  # SIGKILL is delivered, not awaited: allow it to land
    while running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    outlived = running(grandchild)
    if outlived:  # do not leave it behind
        os.kill(grandchild, signal.SIGKILL)
    assert not outlived, f"the verify command's child {grandchild} outlived it"


# A verify command that passes and leaves a child running that holds its output pipe.
LEAVES_A_CHILD = (
    "import subprocess as s, sys; "
    "child = s.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
    "open('child.pid', 'w').write(str(child.pid)); print('checked')"
)


def test_a_child_left_running_by_a_verify_command_does_not_hold_the_run(
    pytester: pytest.Pytester, dome_run
) -> None:
    """dome waited for the end of the output pipe: until every process holding it
    (here a child the command left running) had exited."""
    pytester.makepyfile("def test_ok(): pass")
    try:
        result = pytester.runpytest_subprocess(
            "--dome-run-id=r1", f'--dome-verify=python -c "{LEAVES_A_CHILD}"', timeout=60
        )
    finally:
        child = int((pytester.path / "child.pid").read_text())
        if running(child):
            os.kill(child, signal.SIGKILL)
    assert result.ret == 0
    (command,) = dome_run().verify["commands"]
    assert command["status"] == "passed" and command["output_tail"] == "checked\n"
