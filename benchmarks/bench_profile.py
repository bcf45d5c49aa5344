#!/usr/bin/env python3
"""Profile dome's overhead: where the time of a gated run goes, in pytest_dome's code.

    python benchmarks/bench_profile.py --tests 5000 --mode n2

Generates a trivial suite, then runs pytest with dome under cProfile in every
Python process of the run (the controller and each xdist worker: a
sitecustomize.py put on PYTHONPATH starts the profiler and dumps it when the
process exits, even through os._exit). Prints, per process, the pytest_dome
functions with the most cumulative time (their callees included: pydantic,
json, the file system), and the wall time of the same run without dome.
cProfile slows Python code down (about 1.5-2x); the shares are what matter.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_proc
import bench_suites

HOOK = """
import atexit, cProfile, os, sys

_dir = os.environ.get("DOME_BENCH_PROFILE_DIR")
if _dir:
    _profile = cProfile.Profile()
    _done = []

    def _dump():
        if _done:
            return
        _done.append(1)
        _profile.disable()
        worker = os.environ.get("PYTEST_XDIST_WORKER")  # set by pytest-xdist in its workers
        role = f"worker-{worker}" if worker else "main"
        _profile.dump_stats(os.path.join(_dir, f"{role}-{os.getpid()}.prof"))

    _exit = os._exit

    def _exit_profiled(code):
        _dump()
        _exit(code)

    os._exit = _exit_profiled
    atexit.register(_dump)
    _profile.enable()
"""

COMMON = ["-p", "no:cacheprovider", "-p", "no:benchmark", "-q"]


def dome_rows(path: Path, limit: int) -> tuple[float, list[tuple[float, float, int, str]]]:
    stats = pstats.Stats(str(path))
    rows = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "pytest_dome" in filename:
            where = filename.split("pytest_dome/")[-1]
            rows.append((cumtime, tottime, ncalls, f"{where}:{line} {name}"))
    rows.sort(reverse=True)
    return stats.total_tt, rows[:limit]  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tests", type=int, default=5000)
    p.add_argument("--mode", choices=("serial", "n2"), default="serial")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--keep", help="keep the .prof files in this folder")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="dome-profile-"))
    try:
        suite = bench_suites.trivial(work / "suite", args.tests)
        hook = work / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK)
        profiles = Path(args.keep).resolve() if args.keep else work / "profiles"
        profiles.mkdir(parents=True, exist_ok=True)
        mode = ["-p", "no:xdist"] if args.mode == "serial" else ["-n", "2"]
        env = bench_proc.clean_env()
        base = [sys.executable, "-m", "pytest", *COMMON, *mode, "."]
        subprocess.run([*base[:-1], "--collect-only", "."], cwd=suite, env=env, capture_output=True)
        walls = {}
        out = work / "out"
        for name, extra in (
            ("bare", []),
            ("dome", ["--dome-run-id=unprofiled", f"--dome-out={out}", "--dome-replace"]),
        ):
            start = time.perf_counter()
            subprocess.run([*base[:-1], *extra, "."], cwd=suite, env=env, capture_output=True, check=False)
            walls[name] = time.perf_counter() - start
        print(
            f"{args.tests} trivial tests, {args.mode}, unprofiled: bare {walls['bare']:.2f} s, "
            f"dome {walls['dome']:.2f} s (+{walls['dome'] - walls['bare']:.2f} s)"
        )
        profiled_env = {
            **env,
            "DOME_BENCH_PROFILE_DIR": str(profiles),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")])),
        }
        extra = ["--dome-run-id=profiled", f"--dome-out={out}", "--dome-replace"]  # a new run: no rmtree
        start = time.perf_counter()
        subprocess.run([*base[:-1], *extra, "."], cwd=suite, env=profiled_env, capture_output=True)
        print(f"profiled dome run: {time.perf_counter() - start:.2f} s")
        for prof in sorted(profiles.glob("*.prof")):
            total, rows = dome_rows(prof, args.top)
            print(f"\n{prof.stem}: {total:.2f} s of profiled time; pytest_dome functions by cumulative time")
            print(f"{'cum s':>8}{'own s':>8}{'calls':>8}  function")
            for cum, own, calls, where in rows:
                print(f"{cum:8.3f}{own:8.3f}{calls:8d}  {where}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
