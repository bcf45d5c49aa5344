"""Fault injection: whatever goes wrong, a run ends with a terminal decision.

Each case asserts the decision, its reason code, the exit status, and (through
the dome_run fixture) that every artifact is complete, schema-valid, matches
the manifest and replays.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Mode

N2 = ["-n", "2", "-p", "no:randomly"]


def rejects(run, *codes: str) -> None:
    assert run.gate["status"] == "REJECT" and run.promotion["action"] == "stop"
    assert set(codes) <= set(run.gate["reason_codes"]), run.gate["reason_codes"]
    assert run.manifest["state"] == "complete" and run.manifest["exit_status"] != 0


PID_FILE = """
import os, pathlib
def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        pathlib.Path("controller.pid").write_text(str(os.getpid()))
"""


def test_sigterm(pytester: pytest.Pytester, dome_run, mode: Mode) -> None:
    pytester.makeconftest(PID_FILE)
    pytester.makepyfile(
        """
        import os, pathlib, signal, time
        def test_cancelled():
            os.kill(int(pathlib.Path("controller.pid").read_text()), signal.SIGTERM)
            time.sleep(5)
        def test_other(): pass
        """
    )
    result = pytester.runpytest_subprocess("--dome-run-id=r1", *mode.args)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # 2: a cancelled job, as for Ctrl-C
    run = dome_run()
    rejects(run, "SESSION_INTERRUPTED")
    assert run.manifest["exit_status"] == 2 and run.gate["checks"]["session"]["interrupted"] is True


WAITS = """
import pathlib, time
def test_before(): pass
def test_waits():
    pathlib.Path("ready").write_text("")
    time.sleep(300)
def test_after(): pass
"""


def test_ctrl_c(pytester: pytest.Pytester, dome_run, mode: Mode) -> None:
    """A real SIGINT while a test runs, sent as a terminal's Ctrl-C sends it: to the
    whole process group (pytest and its workers)."""
    pytester.makepyfile(test_waits=WAITS)
    argv = [sys.executable, "-m", "pytest", "--dome-run-id=r1", "--dome-verify=python -c pass", *mode.args]
    with (pytester.path / "output.txt").open("wb") as output:
        proc = pytester.popen(argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while not (pytester.path / "ready").exists():
                assert proc.poll() is None and time.monotonic() < deadline, "test_waits never started"
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGINT)
            status = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:  # never leave it behind, even when the test fails
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    shown = (pytester.path / "output.txt").read_text()
    assert status == pytest.ExitCode.INTERRUPTED, shown
    assert "decision: REJECT" in shown
    run = dome_run()
    rejects(run, "SESSION_INTERRUPTED", "TASK_RESULT_MISSING")
    assert run.gate["checks"]["session"]["interrupted"] is True
    assert run.outcomes["test_waits.py::test_waits"] == "missing"
    assert [c["status"] for c in run.verify["commands"]] == ["not_run"]


def test_worker_death_leaves_tasks_unreported(pytester: pytest.Pytester, dome_run) -> None:
    """Each of the two workers dies in its first test; with no restart allowed, the
    tests they were given and never ran have no result."""
    pytester.makepyfile("import os\n" + "".join(f"def test_{i}(): os._exit(1)\n" for i in range(4)))
    result = pytester.runpytest_subprocess("--dome-run-id=r1", *N2, "--max-worker-restart=0")
    assert result.ret != 0
    run = dome_run()
    rejects(run, "WORKER_CRASHED", "TASK_FAILED", "TASK_RESULT_MISSING")
    assert run.gate["checks"]["session"]["worker_crashes"] == 2
    assert sorted(run.outcomes.values()) == ["failed", "failed", "missing", "missing"]


def test_segfault_in_a_worker(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("import ctypes\ndef test_ok(): pass\ndef test_segv(): ctypes.string_at(0)\n")
    assert pytester.runpytest_subprocess("--dome-run-id=r1", *N2).ret != 0
    rejects(dome_run(), "WORKER_CRASHED", "TASK_FAILED")


WORKER_INTERNAL_ERROR = """
import pytest
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if item.name == "test_lost" and call.when == "call":
        raise RuntimeError("internal error inside the worker")
    return report
"""


def test_worker_internal_error_leaves_a_task_without_report(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makeconftest(WORKER_INTERNAL_ERROR)
    pytester.makepyfile("def test_ok(): pass\ndef test_lost(): pass\n")
    assert pytester.runpytest_subprocess("--dome-run-id=r1", *N2).ret != 0
    run = dome_run()
    rejects(run, "INTERNAL_ERROR", "TASK_RESULT_MISSING")
    assert run.gate["checks"]["session"]["internal_error"] is True
    assert run.outcomes["test_worker_internal_error_leaves_a_task_without_report.py::test_lost"] == "missing"


DOME_BUG = """
import pytest_dome.core.aggregate as aggregate
def broken(self, node_id):
    raise ZeroDivisionError("a bug in dome")
aggregate.Aggregator.verdict = broken
"""


def test_a_bug_inside_dome_still_decides(pytester: pytest.Pytester, dome_run, mode: Mode) -> None:
    pytester.makeconftest(DOME_BUG)
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", *mode.args)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR  # 3, as pytest's own INTERNALERROR: not a test's 1
    result.stdout.fnmatch_lines(["*internal error in pytest-dome: ZeroDivisionError: a bug in dome*"])
    run = dome_run()
    rejects(run, "INTERNAL_ERROR", "TASK_RESULT_MISSING")
    assert run.manifest["exit_status"] == 3 and run.gate["checks"]["session"]["internal_error"] is True


BAD_PLUGIN = """
def pytest_dome_risk_factors(config, results):
    return [{"name": "Not A Name", "weight": 500, "value": 2}]
"""


def test_a_broken_plugin_hook_still_decides(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makeconftest(BAD_PLUGIN)
    pytester.makepyfile("def test_ok(): pass")
    assert pytester.runpytest_subprocess("--dome-run-id=r1").ret == pytest.ExitCode.INTERNAL_ERROR
    rejects(dome_run(), "INTERNAL_ERROR")


DISK_FULL = """
import errno, pytest_dome.runfolder.writer as evidence
real = evidence.atomic_write
def full(path, data, durable=True):
    if path.name == "gate.decision.json":
        raise OSError(errno.ENOSPC, "No space left on device")
    return real(path, data, durable=durable)
evidence.atomic_write = full
"""


def test_full_disk_is_one_line_and_leaves_no_partial_artifact(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(DISK_FULL)
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "dome: no decision was written (cannot write the evidence in ops/runtime/runs/r1: "
            "No space left on device; free space or fix permissions and run again)"
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    run = pytester.path / "ops/runtime/runs/r1"
    assert not (run / "run.manifest.json").exists()  # never claims to be complete
    assert not list(run.rglob("*.tmp-*"))  # no half-written file
    assert (run / "run.started.json").is_file() and (run / "plan.json").is_file()


def test_second_session_with_a_run_id_in_use_is_refused(pytester: pytest.Pytester) -> None:
    import os

    pytester.makepyfile("def test_ok(): pass")
    runs = pytester.path / "ops/runtime/runs"
    runs.mkdir(parents=True)
    (runs / ".r1.lock").write_text(f"{os.getppid()}\n")  # a live process holds it
    result = pytester.runpytest_subprocess("--dome-run-id=r1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: run id 'r1' is in use by another session (pid *"])
    assert not (runs / "r1").exists()


def test_stale_lock_is_taken_over(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    runs = pytester.path / "ops/runtime/runs"
    runs.mkdir(parents=True)
    (runs / ".r1.lock").write_text("999999999\n")  # no such process
    assert pytester.runpytest_subprocess("--dome-run-id=r1").ret == 0
    assert dome_run().gate["status"] == "APPROVE" and not (runs / ".r1.lock").exists()


def test_symlinked_runtime_dir_out_of_the_project_is_refused(
    pytester: pytest.Pytester, tmp_path_factory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    (pytester.path / "ops").symlink_to(outside, target_is_directory=True)
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: runtime dir ops/runtime/runs resolves outside the project*"])
    assert list(outside.iterdir()) == []


def test_enormous_non_utf8_verify_output_keeps_a_short_tail(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    noisy = (
        'python -c "import sys; w = sys.stdout.buffer.write; '
        "[w(b'\\xff\\xfe noise ' * 8192) for _ in range(600)]; w(b'\\nLAST LINE\\n'); sys.exit(3)\""
    )
    assert pytester.runpytest("--dome-run-id=r1", f"--dome-verify={noisy}").ret == 1
    run = dome_run()
    (command,) = run.verify["commands"]
    assert command["exit_code"] == 3 and command["output_tail"].endswith("LAST LINE\n")
    assert len(command["output_tail"]) <= 2000
    rejects(run, "VERIFY_FAILED")


DIES_AFTER_ITS_REPORTS = """
import os
def pytest_runtest_logfinish(nodeid):
    if nodeid.endswith("test_last_words") and hasattr(__import__("sys"), "_dome_worker"):
        os._exit(3)
def pytest_configure(config):
    if hasattr(config, "workerinput"):
        __import__("sys")._dome_worker = True
"""


def test_a_worker_that_dies_after_a_tasks_reports_rewrites_its_result(
    pytester: pytest.Pytester, dome_run
) -> None:
    """The task's result was written when its teardown report came; the crash xdist
    reports for it afterwards adds an attempt: the file is written again, so the
    evidence and the decision agree (dome_run replays the decision from the files)."""
    pytester.makeconftest(DIES_AFTER_ITS_REPORTS)
    pytester.makepyfile("def test_last_words(): pass\ndef test_ok(): pass\n")
    pytester.runpytest_subprocess("--dome-run-id=r1", *N2, "--max-worker-restart=4")
    run = dome_run()
    task = next(t for node, t in run.tasks.items() if node.endswith("test_last_words"))
    assert [a["when"] for a in task["attempts"]][-1] == "crash", task
    assert task["outcome"] == "failed"
    rejects(run, "TASK_FAILED")


PLAN_BUG = """
import pytest_dome.session.plans as plans
def broken(text, ids):
    raise ZeroDivisionError("a bug in reading the plan")
plans.parse_plan = broken
"""


def test_a_bug_in_gathering_the_finish_still_decides(pytester: pytest.Pytester, dome_run) -> None:
    """The fallback does not call what failed again: no plan (flagged), no results
    (the files written during the session are removed, not left unlisted)."""
    pytester.makeconftest(PLAN_BUG)
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", *N2)
    result.stdout.fnmatch_lines(["*internal error in pytest-dome: ZeroDivisionError: a bug in reading*"])
    run = dome_run()
    rejects(run, "INTERNAL_ERROR", "PLAN_MISSING")
    assert run.plan["tasks"] == [] and run.tasks == {}
