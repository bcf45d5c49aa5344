"""Replacing a run: the earlier run is moved aside by one rename and removed in the
background once the new run is committed; what a crash or a killed remover left
beside the run folder is cleared by the next session; no reader takes an aside
folder for a run.

The names of aside folders (``.<id>.replaced-<ns>-<pid>``: a whole earlier run
while its replacement is written; ``.<id>.removing-<ns>-<pid>``: garbage) are
part of the crash states these tests build by hand; the kills that make them for
real are in tests/faults/test_replace_faults.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_dome.cli.main import main
from pytest_dome.history.url import DEFAULT_FILE as HISTORY  # the run history store, not an aside

RUNS = "ops/runtime/runs"


def dead_pid() -> int:
    """The id of a process that has ended (and, this soon after, was not reused)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(proc.stdout)


def hidden(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir() if p.name.startswith(".") and not p.name.startswith(HISTORY))


def wait_until_gone(runs: Path, timeout: float = 60) -> list[str]:
    """Poll (no timing asserted) until the runtime folder holds no aside folder;
    what is left at the timeout."""
    deadline = time.monotonic() + timeout
    while (left := [n for n in hidden(runs) if not n.endswith(".lock")]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_the_replaced_run_is_removed_after_the_session(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("".join(f"def test_{i}(): pass\n" for i in range(30)))
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    first = dome_run().manifest["started_at"]
    result = pytester.runpytest("--dome-run-id=r1", "--dome-replace")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["replaced the earlier evidence of run r1"])
    assert dome_run().manifest["started_at"] != first  # the new run, whole, at once
    runs = pytester.path / RUNS
    assert wait_until_gone(runs) == []
    assert sorted(p.name for p in runs.iterdir()) == [HISTORY, "r1"]


def make_asides(pytester: pytest.Pytester) -> tuple[Path, Path, Path]:
    """Run r1, and beside it what crashes leave: a whole earlier run of r0 moved aside
    by a session that still runs (this process), and a half-removed one of r2."""
    pytester.makepyfile("def test_ok(): pass\ndef test_two(): pass\n")
    for run_id in ("r0", "r1", "r2"):
        assert pytester.runpytest(f"--dome-run-id={run_id}").ret == 0
    runs = pytester.path / RUNS
    whole = runs / f".r0.replaced-{time.time_ns()}-{os.getpid()}"
    (runs / "r0").rename(whole)
    half = runs / f".r2.removing-{time.time_ns()}-{dead_pid()}"
    (runs / "r2").rename(half)
    (half / "run.manifest.json").unlink()
    return runs, whole, half


def test_no_reader_takes_an_aside_folder_for_a_run(pytester: pytest.Pytester, dome_run, capsys) -> None:
    runs, whole, half = make_asides(pytester)
    dome_run(whole.name)  # a whole run, verified where it is: only its name hides it
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(pytester.path)
        capsys.readouterr()
        assert main(["verify", "r1"]) == 0
        assert main(["status", "r1"]) == 0
        assert main(["replay", "--all", RUNS]) == 0
        for aside in (whole, half):
            for command in ("verify", "status", "replay"):
                assert main([command, aside.name]) == 2  # not a run id
                assert f"no run {aside.name!r} in" in capsys.readouterr().err
        month = dome_run().manifest["started_at"][:7]
        assert main(["slo", RUNS, "--month", month, "--json", "--out", "slo.json"]) == 0  # no problem
    report = json.loads(capsys.readouterr().out)
    assert report["runs"] == 1, report  # r1 alone, never an aside
    assert hidden(runs) == sorted([whole.name, half.name])  # and no reader removed one


def test_a_session_clears_what_a_killed_remover_left(pytester: pytest.Pytester, dome_run) -> None:
    """A half-removed run (its remover was killed) is removed by the next session,
    of any run id, in the background; one that a remover still holds is left to it."""
    runs, whole, half = make_asides(pytester)
    holder = os.open(half, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a remover at work holds it
        assert pytester.runpytest("--dome-run-id=r3").ret == 0
        time.sleep(0.5)  # a remover would have started by now; not asserted as timing
        assert half.is_dir() and any(half.iterdir()), "a held folder is its remover's"
    finally:
        os.close(holder)  # the remover is killed: its lock goes with it
    assert pytester.runpytest("--dome-run-id=r4").ret == 0
    dome_run("r4")
    assert wait_until_gone(runs, timeout=60) == [whole.name]  # its session (this one) still runs
    assert sorted(p.name for p in runs.iterdir() if not p.name.startswith(".")) == ["r1", "r3", "r4"]


def test_an_earlier_run_left_aside_by_a_killed_session_comes_back(
    pytester: pytest.Pytester, dome_run
) -> None:
    """Killed after moving the earlier run aside and before creating the new run
    folder: the next session of that id finds the earlier run under its id again,
    and refuses to overwrite it without --dome-replace."""
    pytester.makepyfile("def test_ok(): pass\n")
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    first = dome_run().manifest["started_at"]
    runs = pytester.path / RUNS
    (runs / "r1").rename(runs / f".r1.replaced-{time.time_ns()}-{dead_pid()}")
    again = pytester.runpytest("--dome-run-id=r1")
    assert again.ret == pytest.ExitCode.USAGE_ERROR
    again.stderr.fnmatch_lines(["ERROR: run id 'r1' already has evidence in ops/runtime/runs/r1; *"])
    assert dome_run().manifest["started_at"] == first
    assert hidden(runs) == []


def test_an_earlier_run_whose_replacement_started_is_removed(pytester: pytest.Pytester, dome_run) -> None:
    """Killed after the new run started: the new (uncommitted) run is under the id,
    the earlier one aside; the next session of the id replaces the one and removes
    the other."""
    pytester.makepyfile("def test_ok(): pass\n")
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    runs = pytester.path / RUNS
    shutil.copytree(runs / "r1", runs / f".r1.replaced-{time.time_ns()}-{dead_pid()}")
    (runs / "r1" / "run.manifest.json").unlink()  # the new run, killed before its commit
    assert pytester.runpytest("--dome-run-id=r1", "--dome-replace").ret == 0
    assert dome_run().manifest["state"] == "complete"
    assert wait_until_gone(runs) == []
