#!/usr/bin/env python3
"""pytest-dome's performance benchmark (issues 7, 13, 22): `just bench`, or `python benchmarks/bench.py`.

Generates suites in a temporary folder, then times whole pytest processes,
interleaved in rounds (every configuration of a suite once per round, the order
rotated each round), after a warm-up:

- configurations: bare pytest, pytest --junitxml, pytest with dome
  (--dome-run-id=<unique> --dome-out=<tmp> --dome-replace);
- modes: serial (-p no:xdist) and -n 2;
- every run: -p no:cacheprovider -p no:benchmark -q.

Beside the generated suites it runs real public ones (bench_real.py: the pinned
jsonschema and dateparser sdists, their own tests), each with the interpreter of a
venv of its own, in seven variants (bench_variants.py), each with its plugins loaded
by -p and PYTEST_DISABLE_PLUGIN_AUTOLOAD=1: bare, --junitxml, pytest-reportlog,
pytest-json-report (their outputs on tmpfs, removed untimed), dome with its run
folders on tmpfs (/dev/shm, removed after each run, untimed), dome in a fresh folder
of the work folder's disk, and dome there replacing a run of the same id: what a
project would see beside the reporters it already runs, and how much of dome's cost
is the file system. --skip-real leaves them out, --real-only runs only them.

Ratios are the median of the per-round ratios; peak memory is the RSS of the
largest process of the tree (os.wait4); CPU is the tree's, split by process role
(bench_proc.py: the deciding process, xdist's workers, dome's helper processes).
It also times the pure core: gate + promotion for 100,000 task results, and `dome
verify` / `dome replay` of a 50,000-task run written with
pytest_dome.runfolder.record.write_run.

Prints a table and PASS/FAIL per target of the issue, and writes the same as
JSON under ops/runtime/bench/. A round is one run of every configuration of a
suite, so each round gives one pair per comparison. The full run keeps to a
time budget (--budget, default 1750 s: `just bench` within 30 minutes; --quick
720 s): after the warm-up it runs one round of the largest suite (so its cost is
measured, not guessed) and one of every other suite, then adds rounds,
round-robin by priority, while the next one fits: up to --pairs (5) of every
suite, --large-pairs (3) of the largest, --real-pairs (--pairs; --quick 2) of a
real suite. A suite left with fewer rounds than asked says so (the "method"
targets). The work folder is removed in the background when the report is out.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_coreruns
import bench_flaky
import bench_history
import bench_machine
import bench_real
import bench_report
import bench_report_real
from bench_harness import Bench, Suite
from bench_machine import REPO


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes, 3 pairs (the real suites 2), a 5,000-task core run, a 720 s budget",
    )
    p.add_argument("--sizes", help="comma-separated trivial suite sizes (default 1000,5000,50000)")
    p.add_argument("--pairs", type=int, help="rounds per suite after the warm-up (default 5; --quick 3)")
    p.add_argument(
        "--large-pairs", type=int, help="rounds of the largest suite (default 3; --quick: --pairs)"
    )
    p.add_argument("--real-pairs", type=int, help="rounds of each real suite (default --pairs; --quick 2)")
    p.add_argument(
        "--budget", type=float, help="seconds for the whole run (default 1750; --quick 720); 0: no limit"
    )
    p.add_argument(
        "--sleep-tests", type=int, help="tests in the sleep suite (default 200; --quick 100; 0: skip)"
    )
    p.add_argument("--sleep-ms", type=int, default=100, help="how long each sleep test sleeps (ms)")
    p.add_argument(
        "--realistic-modules", type=int, help="modules of 43 tests in the realistic suite (0: skip)"
    )
    p.add_argument(
        "--real",
        default=",".join(bench_real.DEFAULT),
        help=f"comma-separated real suites, of {', '.join(bench_real.SPECS)} (default: %(default)s)",
    )
    p.add_argument("--skip-real", action="store_true", help="do not run the real suites")
    p.add_argument("--real-only", action="store_true", help="run only the real suites (no core either)")
    p.add_argument(
        "--real-cache",
        default=str(REPO / "ops/runtime/bench/venvs"),
        help="folder of the real suites' venvs and sdists, reused while the pins match",
    )
    p.add_argument("--skip-core", action="store_true", help="do not time the pure core")
    p.add_argument("--skip-processes", action="store_true", help="time the pure core only")
    p.add_argument(
        "--workdir", help="make the (temporary) work folder in this folder (default: the system's)"
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder and every log")
    p.add_argument("--out", default=str(REPO / "ops/runtime/bench"), help="folder of the JSON report")
    args = p.parse_args(argv)
    if args.sizes:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    else:
        args.sizes = [500, 1000, 2000] if args.quick else [1000, 5000, 50000]
    args.pairs = args.pairs or (3 if args.quick else 5)
    args.large_pairs = args.large_pairs or (args.pairs if args.quick else 3)
    args.real_pairs = args.real_pairs or (2 if args.quick else args.pairs)
    if args.budget is None:
        args.budget = 720.0 if args.quick else 1750.0
    if args.sleep_tests is None:
        args.sleep_tests = 100 if args.quick else 200
    args.real = [k.strip() for k in args.real.split(",") if k.strip()]
    unknown = [k for k in args.real if k not in bench_real.SPECS]
    if unknown:
        p.error(f"unknown real suite(s) {unknown}; known: {', '.join(bench_real.SPECS)}")
    if args.real_only and args.skip_real:
        p.error("--real-only and --skip-real exclude each other")
    if args.real_only:
        args.skip_core = True
    if args.realistic_modules is None:
        args.realistic_modules = 4 if args.quick else 10
    args.gate_tasks = 100_000
    args.run_tasks = 5_000 if args.quick else 50_000
    if min(args.sizes) < 1 or args.pairs < 1:
        p.error("sizes and pairs must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    started = datetime.now(timezone.utc)
    git_at_start = bench_machine.git_state()
    bench.say(f"work folder {bench.work}; sizes {args.sizes}; pairs {args.pairs}; budget {args.budget:g} s")
    suites: list[Suite] = []
    summaries: dict[str, Any] = {}
    core = None
    try:
        bench.probe_file_creation("start")
        if not args.skip_core:
            core = bench_coreruns.run_core(bench)
            core["history"] = bench_history.run_history(bench)
            core["flaky"] = bench_flaky.run_flaky(bench)  # its store is filled untimed (minutes)
        if not args.skip_processes:
            t = time.perf_counter()
            suites = bench.make_suites()
            bench.phases["generate"] = time.perf_counter() - t - bench.phases.get("real set-up", 0.0)
            bench.run_processes(suites)
            summaries = {
                s.key: (bench_report_real if s.kind == "real" else bench_report).summarize(s) for s in suites
            }
        bench.probe_file_creation("end")
    finally:
        bench.cleanup()
    found = bench_report.targets(suites, summaries, core, args, bench)
    found += bench_report_real.targets(suites, summaries, bench.work_fs)
    found += bench_history.targets(core["history"]) if core is not None else []
    found += bench_flaky.targets(core["flaky"]) if core is not None else []

    lines = [] if not suites else bench_report.table(suites, summaries)
    lines += bench_report_real.table(suites, summaries, bench.work_fs)
    if core is not None:
        lines += bench_report.core_lines(core)
    if bench.file_creation_us:
        probes = ", ".join(f"{v:.0f} µs a file at the {k}" for k, v in bench.file_creation_us.items())
        lines.append(
            f"file creation in the work folder (1,000 files of 600 bytes): {probes}; dome creates "
            "one per test, bare and junitxml none (12-25 µs on a quiet disk of this project's "
            "machines; see docs/performance.md)"
        )
    lines += [
        "",
        "targets (issue 7: generated suites and core; issue 13 and 22: real suites; 23: the history)"
        + (" -- QUICK run: sizes differ from the issue's, indicative only" if args.quick else ""),
    ]
    for target in found:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[target["pass"]]
        shown = "-" if target["value"] is None else f"{target['value']:.3f}"
        note = f"  {target['note']}" if target["note"] else ""
        lines.append(
            f"  {verdict}  issue {target['issue']:<3}{target['target']}: {shown} "
            f"({target['op']} {target['limit']:g}){note}"
        )
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in bench.phases.items())
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines.append(f"\nharness: {bench.elapsed():.0f} s in all ({phases}); its own peak RSS {floor:.0f} MiB")
    if bench.errors:
        lines.append(f"{len(bench.errors)} run(s) failed; see the JSON report")
    git_at_end = bench_machine.git_state()
    lines.append(
        f"measured on commit {git_at_start['commit']}"
        + (
            f" with uncommitted changes to {', '.join(git_at_start['src_changes'])}"
            if git_at_start["src_changes"]
            else ""
        )
    )
    src = ("src_tree", "src_changes", "src_diff_sha256")
    if [git_at_end[k] for k in src] != [git_at_start[k] for k in src]:
        lines.append(
            f"WARNING: src/ changed during the run (now commit {git_at_end['commit']}, uncommitted: "
            f"{', '.join(git_at_end['src_changes']) or 'none'}): later runs may have used other code"
        )
    print("\n".join(lines))

    report = {
        "schema": "pytest-dome.bench/1",
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git_at_start,
        "git_at_end": git_at_end,
        "machine": bench_machine.machine(),
        "args": {k: v for k, v in vars(args).items() if k not in ("out", "workdir")},
        "harness_s": round(bench.elapsed(), 1),
        "harness_rss_mib": round(floor, 1),
        "phases_s": {k: round(v, 1) for k, v in bench.phases.items()},
        "file_creation_us": {k: round(v, 1) for k, v in bench.file_creation_us.items()},
        "work_fs": bench.work_fs,
        "real_pins": bench_real.PINS,  # what the real suites' venvs install; each suite's freeze below
        "budget_limited": bench.budget_limited,
        "suites": [
            {
                "key": s.key,
                "kind": s.kind,
                "tests": s.tests,
                "configs": list(s.configs),
                "rounds": s.rounds,
                "rounds_asked": s.want,
                "real": s.info or None,
                "collect_warmup_s": round(s.warmup_s, 2),
                "summary": summaries.get(s.key),
                "runs": s.runs,
            }
            for s in suites
        ],
        "core": core,
        "targets": found,
        "table": lines,
        "errors": bench.errors,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}{'-quick' if args.quick else ''}.json"
    text = json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"
    (out / name).write_text(text)
    (out / ("latest-quick.json" if args.quick else "latest.json")).write_text(text)
    print(f"written to {out / name}")
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())
