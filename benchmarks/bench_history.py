"""The run history's rows of the benchmark (issue 23): recording a 60,000-task run
in the store, as a session's finish does (open the store, the decided run and one
row per task in one transaction), on SQLite (a file in the work folder) and on
PostgreSQL (``DOME_TEST_PG_URL``, else a throwaway cluster started here with
fsync on: scripts/pg_cluster.py).

``python benchmarks/bench_history.py record URL TASKS REPEATS`` is the child
process that times it (the harness never imports pytest_dome); one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_targets import target

if TYPE_CHECKING:
    from bench_harness import Bench

TASKS = 60_000
REPEATS = 3
LIMITS = {"sqlite": 2.0, "postgresql": 3.0}
"""Seconds to record a 60,000-task run (the issue's targets)."""
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def record(url_text: str, tasks: int, repeats: int) -> dict[str, Any]:
    from pytest_dome.core.redact import Redactor
    from pytest_dome.history.store import RunFinish, RunStart, TaskRow, open_store
    from pytest_dome.history.url import parse

    url = parse(url_text, Path.cwd(), "bench")
    assert url is not None
    rows = [
        TaskRow(f"t{i:06d}", f"tests/test_mod{i // 100:04d}.py::test_case_{i}", "passed", False, 1, 0.001)
        for i in range(tasks)
    ]
    redactor = Redactor()
    times = []
    for n in range(repeats):
        run_id = f"bench-{os.getpid()}-{n}"
        at = "2026-11-02T10:00:00.000000Z"
        with open_store(url, redactor) as store:
            store.record_started(RunStart(run_id, at, "c0ffee", "main"))
        start = time.perf_counter()
        with open_store(url, redactor) as store:
            store.record_finished(
                RunFinish(
                    run_id,
                    at,
                    finished_at=at,
                    decision="APPROVE",
                    promotion="promote",
                    counts={"planned": tasks, "passed": tasks},
                    manifest_digest=run_id,
                ),
                rows,
            )
        times.append(time.perf_counter() - start)
    return {"tasks": tasks, "times_s": [round(t, 4) for t in times], "median_s": statistics.median(times)}


def _child(bench: Bench, url: str, tasks: int, repeats: int) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "record", url, str(tasks), str(repeats)]
    done = subprocess.run(argv, cwd=bench.work, env=bench.env, capture_output=True, text=True)
    if done.returncode != 0:
        bench.errors.append(f"bench_history.py record: exit {done.returncode}\n{done.stderr[-3000:]}")
        return {"tasks": tasks, "median_s": None, "error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_history(bench: Bench, tasks: int = TASKS) -> dict[str, Any]:
    """Both stores' timings: {"sqlite": {...}, "postgresql": {...}}."""
    found = {"sqlite": _child(bench, f"sqlite:///{bench.work / 'bench-history.sqlite'}", tasks, REPEATS)}
    given = os.environ.get("DOME_TEST_PG_URL")
    if given:
        found["postgresql"] = _child(bench, given, tasks, REPEATS)
    else:
        sys.path.insert(0, str(SCRIPTS))
        import pg_cluster

        try:
            cluster = pg_cluster.start(fast=False)
        except pg_cluster.ClusterError as exc:
            found["postgresql"] = {"tasks": tasks, "median_s": None, "error": str(exc)}
        else:
            try:
                found["postgresql"] = _child(bench, cluster.url, tasks, REPEATS)
            finally:
                cluster.stop()
    for kind, result in found.items():
        shown = "-" if result.get("median_s") is None else f"{result['median_s']:.2f} s"
        bench.say(f"history: record a {tasks}-task run on {kind}: median {shown}")
    return found


def targets(history: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for kind, limit in LIMITS.items():
        result = history.get(kind, {})
        value = result.get("median_s")
        name = f"record a {result.get('tasks', TASKS)}-task run in the history, {kind} (s)"
        rows.append(target("23", name, value, limit, "<", str(result.get("error", ""))))
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["record"] and len(sys.argv) == 5:
        print(json.dumps(record(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        raise SystemExit(0)
    print("usage: bench_history.py record URL TASKS REPEATS", file=sys.stderr)
    raise SystemExit(2)
