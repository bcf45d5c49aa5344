"""Timing whole processes: wall time, CPU time of the tree, and the peak RSS of its largest process.

The standard library only: ``os.wait4`` returns the resource usage of the one child
waited for, and on Linux its ``ru_maxrss`` is the larger of that child's own peak
and the peaks of every descendant it reaped. pytest-xdist's controller reaps its
workers, so for ``-n 2`` this is the RSS of the largest process (controller or
worker), which is what a CI runner's memory limit sees first. Its ``ru_utime`` and
``ru_stime`` likewise add the CPU time of every descendant the child waited for
(xdist's workers, dome's result writer), so they are the whole tree's CPU; a
descendant left running or reaped by init would be missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessResult:
    wall_s: float
    maxrss_kib: int
    cpu_s: float  # user + system of the child and every descendant it waited for
    returncode: int
    log: Path

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


UNSET = (
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTEST_XDIST_AUTO_NUM_WORKERS",
    "PYTEST_CURRENT_TEST",
    # Bytecode is cached, as on a developer's machine or a CI job with a warm cache: with
    # PYTHONDONTWRITEBYTECODE=1 every run would recompile (and re-rewrite) what has no
    # .pyc yet, which adds the same cost to every configuration and hides dome's share.
    "PYTHONDONTWRITEBYTECODE",
)


def clean_env() -> dict[str, str]:
    """The harness's environment without anything that would change pytest's arguments."""
    env = dict(os.environ)
    for name in UNSET:
        env.pop(name, None)
    env["PY_COLORS"] = "0"
    return env


def run(argv: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> ProcessResult:
    """Run ``argv`` to completion, its output to ``log``; time it from spawn to reap."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    rss = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024
    cpu = usage.ru_utime + usage.ru_stime
    return ProcessResult(wall, int(rss), cpu, proc.returncode, log)


def settle() -> None:
    """Flush dirty pages left by the previous run, outside any timed window, so a run
    never pays for its predecessor's writes (dome calls os.sync() itself)."""
    if hasattr(os, "sync"):
        os.sync()


def fs_type(path: Path) -> str:
    """The type of the file system ``path`` is on ("ext4", "tmpfs", ...), from the
    longest mount point above it in /proc/self/mounts; "unknown" elsewhere."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    best, kind = "", "unknown"
    target = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind
