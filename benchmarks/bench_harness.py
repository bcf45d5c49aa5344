"""The benchmark's harness: the suites it times and the Bench that runs them.

A Suite is one folder of tests with the configurations it is timed in, and the
rounds it got; Bench makes the work folder and the suites and runs whole pytest
processes in interleaved rounds within the time budget (a real suite's in the
variants of bench_variants.py). bench.py parses the arguments, times the pure core
with bench_coreruns.py, and reports with bench_report.py and bench_report_real.py,
which read the Suites and the Bench this module defines.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_proc
import bench_real
import bench_suites
import bench_variants
from bench_machine import REPO

COMMON = ["-p", "no:cacheprovider", "-p", "no:benchmark", "-q"]
MODES = {"serial": ["-p", "no:xdist"], "n2": ["-n", "2"]}
CONFIGS = ("bare", "junit", "dome")
SHM = Path("/dev/shm")


def wait_for_removal(folder: Path, timeout: float = 300) -> None:
    """Untimed: dome removes the run it replaced in a background process once the
    session has exited; let that finish, so that the next run does not share the
    machine with it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(".removing-" in p.name for p in folder.iterdir()):
        time.sleep(0.1)


@dataclass
class Suite:
    key: str
    kind: str  # trivial | sleep | realistic | real
    path: Path
    tests: int
    configs: tuple[str, ...]
    large: bool = False
    baseline: bool = False  # the smallest trivial suite: the linearity baseline
    want: int = 1  # rounds asked for (the budget may allow fewer)
    python: str = sys.executable
    args: tuple[str, ...] = (".",)  # what pytest is given, in the suite's folder
    env: dict[str, str] | None = None  # the harness's clean environment when None
    ok_codes: tuple[int, ...] = (0,)  # a real suite may have failing tests: exit 1 is then fine
    dome: str = "dome"  # the dome configuration the overhead, CPU and RSS figures compare
    peers: bool = False  # run as bench_variants.py says: autoload off, every plugin by -p
    info: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 0
    round_seconds: list[float] = field(default_factory=list)
    warmup_s: float = 0.0

    def combos(self) -> list[tuple[str, str]]:
        return [(mode, config) for mode in MODES for config in self.configs]

    def modes(self) -> dict[str, list[str]]:
        return bench_variants.MODES if self.peers else MODES

    def round_cost(self) -> float:
        """The longest a round of this suite has taken so far, cleanup included (0 before the first)."""
        return max(self.round_seconds, default=0.0)


def priority(suite: Suite) -> tuple[int, int]:
    """Which suite gets its rounds first when time is short: the trivial suites the wall
    targets are about, then the fanout (sleep) suite, the real suites, the linearity
    baseline, the rest."""
    if suite.kind == "trivial":
        return (2, 0) if suite.baseline else (0, -suite.tests)
    return {"sleep": (1, 0), "real": (1, 1)}.get(suite.kind, (3, 0))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.start = time.perf_counter()
        if args.workdir:
            Path(args.workdir).mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="dome-bench-", dir=args.workdir)).resolve()
        self.logs = self.work / "logs"
        self.logs.mkdir(exist_ok=True)
        self.dome_out = self.work / "dome-out"
        # dome-tmpfs runs and the real suites' reporters write here, each output removed
        # (untimed) after its run.
        self.shm_out = SHM / self.work.name if SHM.is_dir() else None
        self.peer_out = self.shm_out or self.work / "outputs"
        self.peer_out.mkdir(parents=True, exist_ok=True)
        # (suite, mode) -> the run id of the last run left in dome_out: what the next
        # dome-disk-replace run replaces.
        self.last_disk: dict[tuple[str, str], str] = {}
        self.work_fs = bench_proc.fs_type(self.work)
        self.junit_dir = self.work / "junit"
        self.junit_dir.mkdir(exist_ok=True)
        self.env = bench_proc.clean_env()
        self.counter = itertools.count(1)
        self.errors: list[str] = []
        self.budget_limited: list[str] = []
        self.phases: dict[str, float] = {}
        self.file_creation_us: dict[str, float] = {}

    # --- helpers ------------------------------------------------------------

    def probe_file_creation(self, when: str, count: int = 1000) -> None:
        """Time creating ``count`` small files in the work folder (µs a file, wall): what
        one task result costs the machine. It varies a lot on some file systems (ext4
        without a journal skips every inode freed in the last 30 s: 12-25 µs when quiet,
        300-800 µs after deletions; docs/performance.md), and dome is the only
        configuration that creates a file per test. The files stay (deleting them
        would slow the next runs' creations), removed with the work folder."""
        folder = self.work / f"file-probe-{when}"
        folder.mkdir()
        data = b"x" * 600
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        t = time.perf_counter()
        for i in range(count):
            fd = os.open(folder / f"t{i:05d}.result.json", flags, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        self.file_creation_us[when] = (time.perf_counter() - t) / count * 1e6
        self.say(f"file creation in the work folder ({when}): {self.file_creation_us[when]:.0f} µs a file")

    def cleanup(self) -> None:
        """Remove the work folder (its run folders hold about 150,000 files) in a detached
        background process once the measuring is over, so deleting them is not part of the
        harness's time; --keep keeps it."""
        if self.shm_out is not None:
            shutil.rmtree(self.shm_out, ignore_errors=True)
        if self.args.keep:
            self.say(f"kept the work folder {self.work}")
            return
        trash = self.work.with_name(self.work.name + ".deleting")
        try:
            self.work.rename(trash)
        except OSError:
            trash = self.work
        subprocess.Popen(
            ["rm", "-rf", "--", str(trash)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():6.1f}s] {text}", file=sys.stderr, flush=True)

    def over_budget(self, more: float) -> bool:
        return bool(self.args.budget) and self.elapsed() + more > self.args.budget

    def argv(
        self, suite: Suite, mode: str, config: str, tag: str
    ) -> tuple[list[str], Path | None, Path | None]:
        """The run's command, the output to remove after it, and dome's run folder."""
        if suite.peers:
            replaces = self.last_disk.get((suite.key, mode))
            v = bench_variants.variant(config, tag, self.peer_out, self.dome_out, replaces)
            argv = [suite.python, "-m", "pytest", *COMMON, *suite.modes()[mode], *v.options, *suite.args]
            return argv, v.leftover, v.run_dir
        extra: list[str] = []
        leftover: Path | None = None
        if config == "junit":
            leftover = self.junit_dir / f"{tag}.xml"
            extra = [f"--junitxml={leftover}"]
        elif config.startswith("dome"):
            out = self.shm_out if config == "dome-tmpfs" and self.shm_out else self.dome_out
            leftover = out / tag
            extra = [f"--dome-run-id={tag}", f"--dome-out={out}", "--dome-replace"]
        run_dir = leftover if config.startswith("dome") else None
        return [suite.python, "-m", "pytest", *COMMON, *MODES[mode], *extra, *suite.args], leftover, run_dir

    def seed_replace(self, suite: Suite, mode: str) -> None:
        """Untimed: leave a run of the suite in dome_out for dome-disk-replace to replace,
        when no dome-disk run of the suite and mode has left one yet."""
        if (suite.key, mode) in self.last_disk:
            return
        tag = f"bench-{suite.key}-{mode}-seed-{next(self.counter)}"
        argv, _, _ = self.argv(suite, mode, "dome-disk", tag)
        result = bench_proc.run(argv, suite.path, self.logs / f"{tag}.log", suite.env or self.env)
        if result.returncode in suite.ok_codes:
            self.last_disk[(suite.key, mode)] = tag
        bench_proc.settle()

    def run_one(self, suite: Suite, mode: str, config: str, round_no: int) -> dict[str, Any]:
        tag = f"bench-{suite.key}-{mode}-{config}-r{round_no}-{next(self.counter)}"
        replaced = None
        if config == "dome-disk-replace":
            self.seed_replace(suite, mode)
            replaced = self.last_disk.get((suite.key, mode))
        argv, leftover, run_dir = self.argv(suite, mode, config, tag)
        env = suite.env or self.env
        roles = bench_variants.ROLES
        result = bench_proc.run(argv, suite.path, self.logs / f"{tag}.log", env, roles)
        ok = result.returncode in suite.ok_codes
        gate = None
        outcome = result.tail(1).strip()  # pytest's last line: "7288 passed, 527 skipped in 13.95s"
        if run_dir is not None:
            try:
                gate = json.loads((run_dir / "gate/gate.decision.json").read_text())["status"]
                ok = ok and (run_dir / "run.manifest.json").is_file()
            except (OSError, ValueError, KeyError):
                ok = False
            if ok and config.startswith("dome-disk"):
                self.last_disk[(suite.key, mode)] = run_dir.name
        if not ok:
            message = f"{suite.key} {mode} {config}: exit {result.returncode}, gate {gate}\n{result.tail()}"
            self.errors.append(message)
            self.say("ERROR " + message)
        # Every run writes a new run folder (a unique run id), as a CI job does; the folders
        # are removed with the work folder at the end (deleting 50,000 files here would take
        # the time budget). Untimed: flush what the run left dirty, so the next one starts clean.
        if ok and not self.args.keep:
            result.log.unlink(missing_ok=True)
        if config in ("dome-tmpfs", "dome-nohistory") and leftover is not None and not self.args.keep:
            shutil.rmtree(leftover, ignore_errors=True)  # tmpfs is memory: do not let it fill
        elif suite.peers and leftover is not None and not self.args.keep:
            leftover.unlink(missing_ok=True)  # a reporter's file on tmpfs
        if replaced is not None and run_dir is not None:
            wait_for_removal(run_dir.parent)
        bench_proc.settle()
        return {
            "mode": mode,
            "config": config,
            "round": round_no,
            "wall_s": round(result.wall_s, 4),
            "maxrss_kib": result.maxrss_kib,
            "cpu_s": round(result.cpu_s, 3),
            "own_cpu_s": result.own_cpu_s,  # the deciding process's own (serial, or the controller)
            "roles_cpu_s": {k: round(v, 3) for k, v in result.roles_cpu_s.items()},
            "tree_rss_peak_kib": result.tree_rss_peak_kib,
            "commands": result.commands,
            "replaced_run": replaced,  # dome-disk-replace: the run id it ran as, over that run
            "returncode": result.returncode,
            "outcome": outcome,
            "gate": gate,
            "ok": ok,
        }

    def run_round(self, suite: Suite, warmup: bool = False) -> None:
        start = time.perf_counter()
        combos = suite.combos()
        shift = suite.rounds % len(combos)
        order = combos[shift:] + combos[:shift]  # A B C, then B C A, ...
        runs = [self.run_one(suite, mode, config, -1 if warmup else suite.rounds) for mode, config in order]
        walls = " ".join(f"{r['mode']}/{r['config']}={r['wall_s']:.2f}" for r in runs)
        if warmup:
            self.say(f"{suite.key}: warm-up round ({walls})")
            return
        suite.runs.extend(runs)
        suite.rounds += 1
        suite.round_seconds.append(time.perf_counter() - start)
        self.say(f"{suite.key}: round {suite.rounds} ({walls})")

    def warm_collect(self, suite: Suite) -> None:
        """Import every test module once (assertion rewriting writes its .pyc), untimed."""
        start = time.perf_counter()
        argv = [
            suite.python,
            "-m",
            "pytest",
            *COMMON,
            *suite.modes()["serial"],
            "--collect-only",
            *suite.args,
        ]
        log = self.logs / f"collect-{suite.key}.log"
        result = bench_proc.run(argv, suite.path, log, suite.env or self.env)
        suite.warmup_s = time.perf_counter() - start
        if result.returncode != 0:
            self.errors.append(f"{suite.key}: collection failed\n{result.tail()}")

    # --- the plan -------------------------------------------------------------

    def make_suites(self) -> list[Suite]:
        a = self.args
        root = self.work / "suites"
        suites = [] if a.skip_real else self.real_suites()
        if a.real_only:
            return suites
        sizes = sorted(a.sizes)
        for i, n in enumerate(sizes):
            large = len(sizes) > 1 and i == len(sizes) - 1
            # The smallest size is the linearity baseline: bare and dome are enough there.
            baseline = len(sizes) > 1 and i == 0
            configs = ("bare", "dome") if baseline else CONFIGS
            path = bench_suites.trivial(root / f"trivial-{n}", n)
            want = a.large_pairs if large else a.pairs
            suites.append(Suite(f"trivial-{n}", "trivial", path, n, configs, large, baseline, want))
        if a.sleep_tests:
            path = bench_suites.sleep(root / "sleep", a.sleep_tests, a.sleep_ms)
            key = f"sleep-{a.sleep_ms}ms"
            suites.append(Suite(key, "sleep", path, a.sleep_tests, ("bare", "dome"), want=a.pairs))
        if a.realistic_modules:
            path = bench_suites.realistic(root / "realistic", a.realistic_modules)
            tests = 43 * a.realistic_modules
            suites.append(Suite("realistic", "realistic", path, tests, CONFIGS, want=a.pairs))
        return suites

    def real_suites(self) -> list[Suite]:
        """Set up (or reuse) each real suite's venv and sdist, and count its tests."""
        a = self.args
        t = time.perf_counter()
        real = bench_variants.CONFIGS
        configs = real if self.shm_out else tuple(c for c in real if c != "dome-tmpfs")
        if not self.shm_out:
            self.errors.append(f"{SHM} is not a folder: the real suites run without dome-tmpfs")
        suites = []
        for key in a.real:
            try:
                ready = bench_real.prepare(
                    bench_real.SPECS[key], Path(a.real_cache), REPO, self.env, self.say
                )
            except (OSError, RuntimeError) as e:
                self.errors.append(f"real-{key}: set-up failed: {e}")
                self.say(f"ERROR real-{key}: set-up failed: {e}")
                continue
            info = {**ready.info(), "dome_disk_fs": self.work_fs, "dome_tmpfs": str(self.shm_out)}
            suite = Suite(
                f"real-{key}",
                "real",
                ready.folder,
                ready.tests,
                configs,
                want=a.real_pairs,
                python=str(ready.python),
                args=ready.args,
                env={**self.env, **ready.env, **bench_variants.AUTOLOAD_OFF},
                ok_codes=(0, 1),
                dome="dome-tmpfs" if self.shm_out else "dome-disk",
                peers=True,
                info=info,
                warmup_s=ready.collect_s,
            )
            suites.append(suite)
        self.phases["real set-up"] = time.perf_counter() - t
        return suites

    def run_processes(self, suites: list[Suite]) -> None:
        """Warm up; one round of the largest suite (its cost is then known, not guessed);
        one round of every other suite; then more rounds, round-robin in order of
        priority, while the next round fits the budget (a suite whose round does not fit
        is skipped: a cheaper one may still fit); then more of the largest, if they fit."""
        t = time.perf_counter()
        for suite in suites:
            if suite.kind != "real":  # a real suite was collected when its tests were counted
                self.warm_collect(suite)
        # Every configuration once on a small suite, with each interpreter the rounds use
        # (the harness's, and each real suite's venv): imports and caches warm.
        path = bench_suites.trivial(self.work / "suites" / "warm-up", 100)
        warm = [] if self.args.real_only else [Suite("warm-up", "trivial", path, 100, CONFIGS)]
        for suite in suites:
            if suite.kind == "real":
                warm.append(Suite(f"warm-up-{suite.key}", "trivial", path, 100, suite.configs))
                warm[-1].python, warm[-1].peers = suite.python, True
                warm[-1].env = {**self.env, **bench_variants.AUTOLOAD_OFF}
        for suite in warm:
            self.warm_collect(suite)
            self.run_round(suite, warmup=True)
        self.phases["warm-up"] = time.perf_counter() - t

        t = time.perf_counter()
        large = [s for s in suites if s.large]
        small = sorted((s for s in suites if not s.large), key=priority)
        for suite in large + small:  # one round of each, always
            self.run_round(suite)
        for want in range(2, max((s.want for s in suites), default=1) + 1):
            for suite in small + large:
                if suite.rounds >= want or want > suite.want:
                    continue
                if self.over_budget(suite.round_cost()):
                    if suite.key not in self.budget_limited:
                        self.budget_limited.append(suite.key)
                        self.say(f"{suite.key}: stopped at {suite.rounds} round(s), the time budget")
                    continue
                self.run_round(suite)
        self.phases["rounds"] = time.perf_counter() - t
