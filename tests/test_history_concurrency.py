"""Twenty processes writing to one store at once (one SQLite file, one PostgreSQL
database), from a store no one has created yet: nothing lost, nothing duplicated,
each migration applied once. Real processes, real databases."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pytest_dome.core.redact import Redactor
from pytest_dome.history.schema import MIGRATIONS
from pytest_dome.history.store import open_store
from pytest_dome.history.url import StoreUrl, parse

WRITERS = 20
SHARED = 12
"""Writers 0..11 also record one run id in common, each with its own manifest digest."""
TASKS = 300

WRITER = """
import os, sys, time
from pathlib import Path
from pytest_dome.core.redact import Redactor
from pytest_dome.history.store import RunFinish, RunStart, TaskRow, open_store
from pytest_dome.history.url import StoreUrl, parse

url, index, go = parse(sys.argv[1], Path("/"), "test"), int(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)

def record(run_id, digest):
    at = f"2026-11-02T10:00:{index:02d}.000000Z"
    with open_store(url, Redactor({})) as store:
        store.record_started(RunStart(run_id, at, branch="main"))
        order = range(TASKS) if index % 2 == 0 else range(TASKS - 1, -1, -1)  # shared tests, both ways
        rows = (TaskRow(f"t{j:04d}", f"w{index}::test_{j}", "passed", False, 1, 0.01) for j in order)
        store.record_finished(
            RunFinish(run_id, at, finished_at=at, decision="APPROVE", promotion="promote",
                      counts={"passed": TASKS}, manifest_digest=digest),
            rows,
        )

record(f"run-{index:02d}", f"own-{index}")
if index < SHARED:
    record("shared", f"shared-{index}")
"""


def write_at_once(script: str, writers: int, history_url: str, tmp_path: Path) -> StoreUrl:
    """Run ``writers`` processes of ``script`` (args: URL, index, start file), start
    them together once every interpreter is up, and expect each to succeed."""
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, history_url, str(i), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(writers)
    ]
    time.sleep(1.0)  # every interpreter up and waiting
    go.write_text("")
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    url = parse(history_url, Path("/"), "test")
    assert url is not None
    return url


def test_twenty_concurrent_writers_lose_and_duplicate_nothing(history_url: str, tmp_path: Path) -> None:
    url = write_at_once(f"TASKS = {TASKS}\nSHARED = {SHARED}\n" + WRITER, WRITERS, history_url, tmp_path)
    with open_store(url, Redactor({})) as store:
        applied = store.query("SELECT version, COUNT(*) FROM dome_schema GROUP BY version ORDER BY version")
        assert applied == [(version, 1) for version, _ in MIGRATIONS]  # each migration once
        runs = store.query("SELECT run_id, state, manifest_digest FROM runs ORDER BY run_id")
        own = [(f"run-{i:02d}", "decided", f"own-{i}") for i in range(WRITERS)]
        assert runs[:-1] == own and runs[-1][:2] == ("shared", "decided")
        counts = store.query(
            "SELECT run_id, COUNT(*), COUNT(DISTINCT task_id) FROM tasks GROUP BY run_id ORDER BY run_id"
        )
        assert counts == [(r, TASKS, TASKS) for r, _, _ in runs]
        # the shared run holds exactly the tasks of the writer its row names
        writer = int(str(runs[-1][2]).removeprefix("shared-"))
        owners = store.query("SELECT DISTINCT substr(node_id, 1, 3) FROM tasks WHERE run_id = 'shared'")
        assert owners == [(f"w{writer}:"[:3],)]


SAME_SUITE = """
import sys, time
from pathlib import Path
from pytest_dome.core.redact import Redactor
from pytest_dome.history.store import RunFinish, TaskRow, open_store
from pytest_dome.history.url import StoreUrl, parse

url, index, go = parse(sys.argv[1], Path("/"), "test"), int(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.002)
at = "2026-11-02T10:00:00.000000Z"
order = range(TESTS) if index % 2 == 0 else range(TESTS - 1, -1, -1)
rows = [TaskRow(f"t{j:05d}", f"tests/test_a.py::test_{j}", "passed", False, 1, 0.01) for j in order]
with open_store(url, Redactor({})) as store:
    store.record_finished(
        RunFinish(f"run-{index}", at, finished_at=at, decision="APPROVE", promotion="promote",
                  counts={"passed": TESTS}, manifest_digest="m"),
        rows,
    )
"""


def test_concurrent_runs_of_one_new_suite_record_its_tests_once(history_url: str, tmp_path: Path) -> None:
    """Ten runs of the same suite, new to the store, recorded at once, half of them
    listing its tests the other way round: each test once, every run whole. (Inserted
    in any order, PostgreSQL deadlocked: 5 of the 10 writers failed.)"""
    tests = 20_000
    url = write_at_once(f"TESTS = {tests}\n" + SAME_SUITE, 10, history_url, tmp_path)
    with open_store(url, Redactor({})) as store:
        assert store.query("SELECT COUNT(*) FROM tests") == [(tests,)]
        counts = store.query("SELECT run_id, COUNT(*) FROM tasks GROUP BY run_id ORDER BY run_id")
        assert counts == [(f"run-{i}", tests) for i in range(10)]
