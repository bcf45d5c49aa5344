"""Timing whole processes: wall time, peak RSS, and CPU time of the tree split by process role.

The standard library only. ``os.wait4`` returns the resource usage of the one child
waited for, and on Linux its ``ru_maxrss`` is the larger of that child's own peak
and the peaks of every descendant it reaped. pytest-xdist's controller reaps its
workers, so for ``-n 2`` this is the RSS of the largest process (controller or
worker), which is what a CI runner's memory limit sees first. Its ``ru_utime`` and
``ru_stime`` likewise add the CPU time of every descendant the child waited for
(xdist's workers, dome's result writer), so they are the whole tree's CPU; a
descendant left running or reaped by init would be missing.

The CPU split by process role (``run(..., roles=...)``), on Linux:

- the *deciding* process (the child: the serial session, or xdist's controller),
  exactly: when it exits the harness first waits with ``WNOWAIT``, which leaves it a
  zombie, and reads its ``/proc/<pid>/stat``: ``utime + stime`` is its own CPU (all
  its threads), ``cutime + cstime`` that of every descendant it reaped; then reaps it
  with ``os.wait4``. Resolution: one clock tick (10 ms).
- every other process of the tree, by role (the first ``(role, substring)`` whose
  substring is in its command line, else "other"): a thread samples the tree every
  ``SAMPLE_S`` (the children of each thread, ``/proc/<pid>/task/<tid>/children``,
  recursively) and keeps the last ``utime + stime`` seen of each process (its role is
  looked up again while it is "other": between fork and exec a child shows its
  parent's command line). What a process spends after its last sample (at most
  ``SAMPLE_S`` of CPU each, and a tick of rounding) is missed: the exact total of the
  descendants minus the sampled sum is reported as "unsampled" (the error, in every
  run's record), or added to the one role seen when there is only one. The same
  samples sum the RSS of the tree's processes: its peak (``tree_rss_peak_kib``) misses
  spikes shorter than a sample.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ProcessResult:
    wall_s: float
    maxrss_kib: int
    cpu_s: float  # user + system of the child and every descendant it waited for
    returncode: int
    log: Path
    own_cpu_s: float | None = None  # the child's own user + system (the deciding process)
    roles_cpu_s: dict[str, float] = field(default_factory=dict)  # descendants' CPU by role
    tree_rss_peak_kib: int | None = None  # the largest sampled sum of VmRSS over the tree
    commands: dict[str, str] = field(default_factory=dict)  # a command line seen per role

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


SAMPLE_S = 0.02
"""How often the tree is sampled for the CPU split (about 1 % of a core here)."""
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_KIB = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) // 1024


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 on), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except (OSError, ValueError):
            pass
    return found


class TreeSampler(threading.Thread):
    """Samples the descendants of ``root`` until stopped: the last CPU seen of each,
    its command line, and the peak of the tree's summed VmRSS."""

    def __init__(self, root: int, roles: tuple[tuple[str, str], ...]) -> None:
        super().__init__(daemon=True)
        self.root, self.roles = root, roles
        self.done = threading.Event()
        self.cpu: dict[int, float] = {}
        self.role: dict[int, str] = {}
        self.command: dict[int, str] = {}
        self.rss_peak_kib = 0

    def classify(self, pid: int) -> None:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return
        if not command.strip():
            return  # exiting already, or not exec'd yet: classify at a later sample
        self.command[pid] = command.strip()
        self.role[pid] = next((role for role, part in self.roles if part in command), "other")

    def sample(self) -> None:
        rss = 0
        stack = [self.root]
        while stack:
            pid = stack.pop()
            fields = _stat(pid)
            if fields is None:
                continue
            rss += int(fields[21]) * PAGE_KIB
            stack += _children(pid)
            if pid == self.root:
                continue
            if self.role.get(pid, "other") == "other":
                self.classify(pid)  # again while "other": a fork shows its parent's command until exec
            if pid in self.role:
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / TICK
        self.rss_peak_kib = max(self.rss_peak_kib, rss)

    def run(self) -> None:
        while not self.done.wait(SAMPLE_S):
            self.sample()

    def by_role(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, cpu in self.cpu.items():
            out[self.role[pid]] = out.get(self.role[pid], 0.0) + cpu
        return out


def run(
    argv: list[str],
    cwd: Path,
    log: Path,
    env: dict[str, str] | None = None,
    roles: tuple[tuple[str, str], ...] | None = None,
) -> ProcessResult:
    """Run ``argv`` to completion, its output to ``log``; time it from spawn to reap.
    With ``roles`` (Linux), also split the tree's CPU by process role (module doc)."""
    split = roles is not None and sys.platform.startswith("linux") and hasattr(os, "waitid")
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        sampler = zombie = None
        if split:
            sampler = TreeSampler(proc.pid, roles or ())
            sampler.start()
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped yet
            wall = time.perf_counter() - start
            zombie = _stat(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        if sampler is None:
            wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    rss = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024
    cpu = usage.ru_utime + usage.ru_stime
    if sampler is None:
        return ProcessResult(wall, int(rss), cpu, proc.returncode, log)
    sampler.done.set()
    sampler.join()
    own = None
    roles_cpu = sampler.by_role()
    if zombie is not None:
        own = (int(zombie[11]) + int(zombie[12])) / TICK
        descendants = (int(zombie[13]) + int(zombie[14])) / TICK
        rest = descendants - sum(roles_cpu.values())
        if len(roles_cpu) == 1:
            role = next(iter(roles_cpu))
            roles_cpu[role] += rest
        else:
            roles_cpu["unsampled"] = rest
    commands = {sampler.role[pid]: command for pid, command in sampler.command.items()}
    return ProcessResult(
        wall, int(rss), cpu, proc.returncode, log, own, roles_cpu, sampler.rss_peak_kib or None, commands
    )


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
