"""The benchmark's CPU split by process (benchmarks/bench_proc.py): the deciding
process's own CPU, exact, and its descendants' by role, from their command lines."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_proc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}:\n    pass\n"


def test_the_tree_cpu_is_split_by_process_role(tmp_path: Path) -> None:
    """A parent that burns 0.4 s of CPU and runs two children one after the other: a
    "helper" (its command line names helper_role.py) burning 0.6 s, and an unnamed one
    burning 0.2 s. The parent's own CPU is its own, the helper's is its role's, the
    rest is "other" or the sampling's "unsampled", and the parts add up to the tree's."""
    helper = tmp_path / "helper_role.py"
    helper.write_text(BURN.format(s=0.6))
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import subprocess, sys\n"
        + BURN.format(s=0.4)
        + textwrap.dedent(
            f"""
            subprocess.run([sys.executable, {str(helper)!r}], check=True)
            subprocess.run([sys.executable, "-c", {BURN.format(s=0.2)!r}], check=True)
            """
        )
    )
    result = bench_proc.run(
        [sys.executable, str(parent)], tmp_path, tmp_path / "log", roles=(("helpers", "helper_role.py"),)
    )
    assert result.returncode == 0, result.tail()
    assert result.own_cpu_s is not None
    assert 0.38 <= result.own_cpu_s <= 0.6
    split = result.roles_cpu_s
    assert 0.55 <= split["helpers"] <= 0.7
    assert 0.18 <= split.get("other", 0.0) + split.get("unsampled", 0.0) <= 0.35
    # /proc counts in clock ticks (10 ms), truncated: four of them (own and descendants'
    # user and system) against os.wait4's microseconds.
    assert result.own_cpu_s + sum(split.values()) == pytest.approx(result.cpu_s, abs=0.05)
    assert "helper_role.py" in result.commands["helpers"]
    assert result.tree_rss_peak_kib is not None and result.tree_rss_peak_kib > 0


def test_without_roles_the_wall_time_waits_for_the_process(tmp_path: Path) -> None:
    """The plain path (the core's commands) times the process to its end."""
    argv = [sys.executable, "-c", "import time; time.sleep(0.3)"]
    result = bench_proc.run(argv, tmp_path, tmp_path / "log")
    assert result.wall_s >= 0.3
    assert result.own_cpu_s is None and result.roles_cpu_s == {}
