"""The pure core, timed for the benchmark: gate + promotion and writing a run in
bench_core.py (a child process: the harness never imports pytest_dome), then
``dome verify``, ``dome replay`` and the CLI's start-up as whole processes."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bench_proc

if TYPE_CHECKING:
    from bench_harness import Bench


def time_command(bench: Bench, argv: list[str], name: str, max_repeats: int) -> dict[str, Any]:
    results = []
    for i in range(max_repeats):
        result = bench_proc.run(argv, bench.work, bench.logs / f"{name}-{i}.log", bench.env)
        results.append(result)
        if result.returncode != 0:
            bench.errors.append(f"{name}: exit {result.returncode}\n{result.tail()}")
            break
        if sum(r.wall_s for r in results) > 10.0:  # slow: fewer measurements judge it
            break
    walls = [r.wall_s for r in results]
    return {
        "times_s": [round(w, 4) for w in walls],
        "median_s": statistics.median(walls),
        "maxrss_kib": max(r.maxrss_kib for r in results),
        "returncode": results[-1].returncode,
    }


def core_step(bench: Bench, *args: str) -> dict[str, Any]:
    """One step of bench_core.py in a child process (the harness never imports pytest_dome)."""
    argv = [sys.executable, str(Path(__file__).resolve().parent / "bench_core.py"), *args]
    done = subprocess.run(argv, cwd=bench.work, env=bench.env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench_core.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_core(bench: Bench) -> dict[str, Any]:
    a = bench.args
    t = time.perf_counter()
    gate = core_step(bench, "gate", str(a.gate_tasks))
    bench.say(f"core: gate + promotion of {a.gate_tasks} tasks: median {gate['median_s']:.3f} s")
    runtime = bench.work / "core-runs"
    runtime.mkdir(exist_ok=True)
    run_dir = runtime / f"bench-core-{a.run_tasks}"
    written = core_step(bench, "write-run", str(run_dir), str(a.run_tasks))
    bench.say(f"core: wrote a {a.run_tasks}-task run in {written['write_run_s']:.1f} s")
    bench_proc.settle()
    base = [sys.executable, "-m", "pytest_dome"]
    verify = time_command(bench, [*base, "verify", str(run_dir)], "dome-verify", 3)
    bench.say(f"core: dome verify: median {verify['median_s']:.2f} s")
    replay = time_command(bench, [*base, "replay", str(run_dir)], "dome-replay", 3)
    bench.say(f"core: dome replay: median {replay['median_s']:.2f} s")
    startup = time_command(bench, [*base, "--help"], "dome-help", 3)
    bench.phases["core"] = time.perf_counter() - t
    return {
        "gate_promotion": gate,
        "write_run": written,
        "verify": {"tasks": a.run_tasks, **verify},
        "replay": {"tasks": a.run_tasks, **replay},
        "cli_startup": startup,
    }
