"""The run history's flaky row of the benchmark (issue 23): ``dome flaky`` over 500
runs of 10,000 tasks (5 million task rows), on SQLite and on PostgreSQL.

The store is filled untimed, straight into its tables (one transaction a run, as
the session's finish writes it): 500 runs on one branch, three runs a commit, every
test passing but 40 flaky ones (each flakes in 2-30 % of runs: a failure on a
commit another run passed, or a pass on a retry) and 5 broken ones (failing in
every run of a stretch of commits: not flaky). Timed, in a child process that
imports dome afresh: open the store and answer ``dome flaky --runs 500`` (all 5
million rows in the window) and the default window (200 runs), each 3 times.

    python benchmarks/bench_flaky.py fill URL [RUNS TASKS]
    python benchmarks/bench_flaky.py query URL RUNS REPEATS
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_targets import target

if TYPE_CHECKING:
    from bench_harness import Bench

RUNS = 500
TASKS = 10_000
REPEATS = 3
FLAKY = 40
BROKEN = 5
LIMIT_S = 2.0
"""Seconds for ``dome flaky`` over 500 runs of 10,000 tasks (the issue's target)."""
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _outcomes(runs: int, tasks: int) -> dict[tuple[int, int], tuple[str, int, int]]:
    """The rows that are not a plain pass: (run, task) -> (outcome, flaky, attempts)."""
    rnd = random.Random(23)
    odd: dict[tuple[int, int], tuple[str, int, int]] = {}
    flaky = rnd.sample(range(tasks), FLAKY + BROKEN)
    for task in flaky[:FLAKY]:
        rate = rnd.uniform(0.02, 0.30)
        for run in range(runs):
            if rnd.random() < rate:
                odd[(run, task)] = ("failed", 0, 2) if rnd.random() < 0.5 else ("passed", 1, 2)
    for task in flaky[FLAKY:]:
        start = 3 * rnd.randrange(max(1, (runs - 30) // 3))
        for run in range(start, min(runs, start + 30)):
            odd[(run, task)] = ("failed", 0, 2)
    return odd


def fill(url_text: str, runs: int = RUNS, tasks: int = TASKS) -> dict[str, Any]:
    from pytest_dome.history.store import COUNTS, RUN_COLUMNS, open_store
    from pytest_dome.history.url import parse

    url = parse(url_text, Path.cwd(), "bench")
    assert url is not None
    odd = _outcomes(runs, tasks)
    begun = time.perf_counter()
    with open_store(url) as store:
        for run in range(runs):
            run_id = f"bench-{run:04d}"
            at = f"2026-11-{1 + run // 48:02d}T{(run % 48) // 2:02d}:{30 * (run % 2):02d}:00.000000Z"
            rows = []
            failed = 0
            for task in range(tasks):
                outcome, flaky, attempts = odd.get((run, task), ("passed", 0, 1))
                failed += outcome == "failed"
                rows.append(
                    (
                        f"t{task:05d}",
                        f"tests/test_m{task // 100:03d}.py::test_{task}",
                        outcome,
                        flaky,
                        attempts,
                        0.01,
                    )
                )
            counts = dict.fromkeys(COUNTS, 0) | {"planned": tasks, "passed": tasks - failed, "failed": failed}
            values = {
                "run_id": run_id, "state": "decided", "started_at": at, "finished_at": at,
                "commit_sha": f"c{run // 3:05d}", "branch": "main",
                "decision": "REJECT" if failed else "APPROVE",
                "promotion": "hold" if failed else "promote", "reason_codes": "[]", **counts,
                "exit_status": 1 if failed else 0, "risk_score": 0.0, "duration_s": 60.0,
                "source": "session", "recorded_at": at,
            }  # fmt: skip
            with store.db.write(None):
                store.db.insert_many("runs", RUN_COLUMNS, [[values.get(c) for c in RUN_COLUMNS]])
                store.write_tasks(run_id, rows)
        store.db.execute("ANALYZE")  # as a store a while in use: the planner knows its tables
    return {"runs": runs, "tasks": tasks, "fill_s": round(time.perf_counter() - begun, 1)}


def query(url_text: str, runs: int, repeats: int) -> dict[str, Any]:
    begun = time.perf_counter()
    from pytest_dome.history.flaky import Window, flaky_tests
    from pytest_dome.history.store import open_store
    from pytest_dome.history.url import parse

    imported = time.perf_counter() - begun
    url = parse(url_text, Path.cwd(), "bench")
    assert url is not None
    times, found = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        with open_store(url) as store:
            tests, seen = flaky_tests(store, Window(runs=runs))
        times.append(time.perf_counter() - start)
        found = len(tests)
    return {
        "runs": seen,
        "flaky_found": found,
        "import_s": round(imported, 3),
        "times_s": [round(t, 4) for t in times],
        "median_s": statistics.median(times),
    }


def _child(bench: Bench, argv: list[str]) -> dict[str, Any] | None:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *argv],
        cwd=bench.work,
        env=bench.env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        bench.errors.append(f"bench_flaky.py {argv[0]}: exit {done.returncode}\n{done.stderr[-3000:]}")
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _measure(bench: Bench, url: str) -> dict[str, Any]:
    filled = _child(bench, ["fill", url])
    if filled is None:
        return {"median_s": None, "error": "fill failed"}
    result = {"fill": filled}
    for runs in (RUNS, 200):
        found = _child(bench, ["query", url, str(runs), str(REPEATS)])
        result[f"runs_{runs}"] = found or {"median_s": None}
    result["median_s"] = result[f"runs_{RUNS}"].get("median_s")
    return result


def run_flaky(bench: Bench) -> dict[str, Any]:
    """Both stores' timings: {"sqlite": {...}, "postgresql": {...}}."""
    found = {"sqlite": _measure(bench, f"sqlite:///{bench.work / 'bench-flaky.sqlite'}")}
    given = os.environ.get("DOME_TEST_PG_URL")
    if given:
        found["postgresql"] = _measure(bench, given)  # a database of its own is the caller's
    else:
        sys.path.insert(0, str(SCRIPTS))
        import pg_cluster

        try:
            cluster = pg_cluster.start(fast=False)
        except pg_cluster.ClusterError as exc:
            found["postgresql"] = {"median_s": None, "error": str(exc)}
        else:
            try:
                found["postgresql"] = _measure(bench, cluster.url)
            finally:
                cluster.stop()
    for kind, result in found.items():
        shown = "-" if result.get("median_s") is None else f"{result['median_s']:.2f} s"
        bench.say(f"history: dome flaky over {RUNS} runs of {TASKS} tasks on {kind}: median {shown}")
    return found


def targets(flaky: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for kind in ("sqlite", "postgresql"):
        result = flaky.get(kind, {})
        value = result.get("median_s")
        name = f"dome flaky over {RUNS} runs of {TASKS} tasks ({RUNS * TASKS:,} rows), {kind} (s)"
        rows.append(target("23", name, value, LIMIT_S, "<", str(result.get("error", ""))))
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["fill"] and len(sys.argv) in (3, 5):
        sizes = [int(a) for a in sys.argv[3:5]]
        print(json.dumps(fill(sys.argv[2], *sizes)))
        raise SystemExit(0)
    if sys.argv[1:2] == ["query"] and len(sys.argv) == 5:
        print(json.dumps(query(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        raise SystemExit(0)
    print("usage: bench_flaky.py fill URL [RUNS TASKS] | query URL RUNS REPEATS", file=sys.stderr)
    raise SystemExit(2)
