"""Replacing a run, killed at each point: the run id holds either the earlier run
or the new one, never a mix, and the next session clears what was left aside.

Each case kills a real process with SIGKILL at one point of the path: the
session (right after it moved the earlier run aside; while its tests run; right
after its commit, before it hands the earlier run to the remover), or the
background remover half-way through its files.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pytest_dome.history.url import DEFAULT_FILE as HISTORY  # the run history store, not an aside

RUNS = "ops/runtime/runs"


KILL_AT = """
import os, signal, types
from pytest_dome.runfolder import lifecycle

POINT = {point!r}

class KillingOs(types.ModuleType):
    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def replace(src, dst):
        if POINT == "handing-off" and ".removing-" in str(dst):
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace(src, dst)
        if POINT == "moved-aside" and ".replaced-" in str(dst):
            os.kill(os.getpid(), signal.SIGKILL)

lifecycle.os = KillingOs("os")
if POINT == "removing":  # the real remover, killed after its 20th file
    lifecycle.REMOVER = '''
import os, signal
_unlink, _count = os.unlink, [0]
def unlink(*args, **kwargs):
    _count[0] += 1
    if _count[0] > 20:
        os.kill(os.getpid(), signal.SIGKILL)
    _unlink(*args, **kwargs)
os.unlink = unlink
''' + lifecycle.REMOVER
"""

TESTS = "import os, signal\n" + "".join(f"def test_{i}(): pass\n" for i in range(60))
KILLED_IN_A_TEST = "import os, signal\ndef test_zz_killed(): os.kill(os.getpid(), signal.SIGKILL)\n"


def asides(runs: Path) -> list[str]:
    return sorted(
        p.name
        for p in runs.iterdir()
        if p.name.startswith(".") and not p.name.endswith(".lock") and not p.name.startswith(HISTORY)
    )


def started_at(run_dir: Path) -> str:
    started: str = json.loads((run_dir / "run.started.json").read_text())["started_at"]
    return started


def wait_until_gone(runs: Path, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while asides(runs) and time.monotonic() < deadline:
        time.sleep(0.05)
    return asides(runs)


@pytest.mark.parametrize("point", ["moved-aside", "testing", "handing-off", "removing"])
def test_a_replace_killed_at_any_point(pytester: pytest.Pytester, dome_run, point: str) -> None:
    pytester.makepyfile(test_many=TESTS)
    assert pytester.runpytest_subprocess("--dome-run-id=r1").ret == 0
    runs = pytester.path / RUNS
    first = started_at(runs / "r1")
    if point == "testing":
        pytester.makepyfile(test_killed=KILLED_IN_A_TEST)
    else:
        pytester.makeconftest(KILL_AT.format(point=point))
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "--dome-replace")
    assert result.ret == (0 if point == "removing" else -9), result.stderr.str()
    (pytester.path / "conftest.py").unlink(missing_ok=True)
    (pytester.path / "test_killed.py").unlink(missing_ok=True)

    # What the kill left: under r1 the earlier run, whole, or the new one; never a mix.
    if point == "moved-aside":
        assert not (runs / "r1").exists()  # the next session of r1 puts the earlier run back
        [aside] = asides(runs)
        assert dome_run(aside).manifest["started_at"] == first
    elif point == "testing":
        assert started_at(runs / "r1") != first and not (runs / "r1" / "run.manifest.json").exists()
        assert len(list((runs / "r1" / "task_results").iterdir())) < 60  # only the new run's
        [aside] = asides(runs)
        assert dome_run(aside).manifest["started_at"] == first
    else:
        assert dome_run().manifest["started_at"] != first  # the new run, whole
        assert len(asides(runs)) == 1

    # The next session clears what was left.
    if point == "moved-aside":
        again = pytester.runpytest_subprocess("--dome-run-id=r1")
        assert again.ret == pytest.ExitCode.USAGE_ERROR  # the earlier run is back, and kept
        assert dome_run().manifest["started_at"] == first
        assert asides(runs) == []
    elif point in {"testing", "handing-off"}:
        assert pytester.runpytest_subprocess("--dome-run-id=r1", "--dome-replace").ret == 0
        assert dome_run().manifest["started_at"] != first
    else:  # any session in the folder takes up a killed remover's folder
        assert pytester.runpytest_subprocess("--dome-run-id=r2").ret == 0
    assert wait_until_gone(runs) == []
