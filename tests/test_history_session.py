"""A gated session's two writes to the run history, and what it never lets the
store change: the decision, the exit status, the run folder."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from pytest_dome.cli.main import main

RUNS = "ops/runtime/runs"
STORE = f"{RUNS}/.dome-history.sqlite"
SUITE = """
import os, sqlite3, pytest
calls = []
def test_ok():
    pass
def test_flaky():
    calls.append(1)
    assert len(calls) > 1
def test_started_row_is_there_while_the_tests_run():
    path = os.environ.get("DOME_CHECK_STORE")
    if path:
        rows = sqlite3.connect(path).execute("SELECT run_id, state, decision FROM runs").fetchall()
        assert rows == [("r1", "started", None)]
@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_a_gated_run_is_started_then_decided_in_the_default_store(
    pytester: pytest.Pytester, monkeypatch, dome_run
) -> None:
    monkeypatch.setenv("DOME_CHECK_STORE", str(pytester.path / STORE))
    monkeypatch.setenv("GITHUB_RUN_ID", "777")
    monkeypatch.setenv("GITHUB_JOB", "gate")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--dome-run-id=r1")
    assert result.ret == 0
    run = dome_run("r1")
    store = pytester.path / STORE
    (row,) = rows(
        store,
        "SELECT run_id, state, decision, promotion, reason_codes, passed, flaky, skipped, missing, "
        "branch, ci_job, manifest_digest, decision_digest, source FROM runs",
    )
    assert row == (
        "r1",
        "decided",
        run.gate["status"],
        run.promotion["action"],
        json.dumps(run.gate["reason_codes"]),
        3,
        1,
        1,
        0,
        "main",
        "github:777/1/gate",
        run.manifest["manifest_digest"],
        run.gate["decision_digest"],
        "session",
    )
    tasks = rows(store, "SELECT node_id, outcome, flaky, attempts FROM tasks ORDER BY node_id")
    assert tasks == sorted(
        (node, r["outcome"], int(r["flaky"]), len(r["attempts"])) for node, r in run.tasks.items()
    )
    assert ("test_suite.py::test_flaky", "passed", 1, 2) in tasks
    assert "run history" not in result.stdout.str()
    # importing the run the session recorded changes nothing
    assert main(["history", "import", str(run.path), "--history", str(store)]) == 0
    assert rows(store, "SELECT COUNT(*) FROM tasks") == [(4,)]


def test_a_killed_run_stays_started(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import os, signal\ndef test_dies(): os.kill(os.getpid(), signal.SIGKILL)\n")
    result = pytester.runpytest_subprocess("--dome-run-id=k1", "-p", "no:xdist")
    assert result.ret == -9
    assert rows(pytester.path / STORE, "SELECT run_id, state, decision FROM runs") == [
        ("k1", "started", None)
    ]


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_store_that_fails_changes_nothing_but_one_warning_line(
    pytester: pytest.Pytester, dome_run, kind: str
) -> None:
    pytester.makepyfile("def test_ok(): pass")
    (pytester.path / "a-file").write_text("")
    url = {
        "postgresql": f"postgresql://dome:hunter2-pw@/db?host={pytester.path}/nowhere&port=1",
        "sqlite": "sqlite:a-file/history.sqlite",  # its folder is a file
    }[kind]
    result = pytester.runpytest("--dome-run-id=r1", f"--dome-history={url}")
    assert result.ret == 0
    run = dome_run("r1")  # the run folder is complete and verifies
    assert run.gate["status"] == "APPROVE"
    out = result.stdout.str()
    warnings = [line for line in out.splitlines() if "run history" in line]
    assert len(warnings) == 1, out
    assert warnings[0].startswith("dome: run history not recorded (cannot ")
    assert warnings[0].endswith(f"record it later with `dome history import {RUNS}/r1`")
    assert "hunter2-pw" not in out


def test_where_the_history_goes_option_env_table_default(pytester: pytest.Pytester, monkeypatch) -> None:
    pytester.makepyfile("def test_ok(): pass")
    pytester.makepyprojecttoml('[tool.dome]\nhistory = "from-table.sqlite"\n')
    monkeypatch.setenv("DOME_HISTORY_URL", "from-env.sqlite")
    assert pytester.runpytest("--dome-run-id=r1", "--dome-history=sqlite:from-option.sqlite").ret == 0
    assert pytester.runpytest("--dome-run-id=r2").ret == 0
    monkeypatch.delenv("DOME_HISTORY_URL")
    assert pytester.runpytest("--dome-run-id=r3").ret == 0
    found = {
        p: rows(pytester.path / p, "SELECT run_id FROM runs")
        for p in ("from-option.sqlite", "from-env.sqlite", "from-table.sqlite")
    }
    assert found == {
        "from-option.sqlite": [("r1",)],
        "from-env.sqlite": [("r2",)],
        "from-table.sqlite": [("r3",)],
    }
    assert not (pytester.path / STORE).exists()


def test_the_ini_key_and_a_bad_value(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    pytester.makeini("[pytest]\ndome_history = ini.sqlite\n")
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    assert rows(pytester.path / "ini.sqlite", "SELECT run_id, state FROM runs") == [("r1", "decided")]
    result = pytester.runpytest("--dome-run-id=r2", "--dome-history=mysql://u:topsecret@h/db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--dome-history: 'mysql://u:***@h/db': unknown scheme 'mysql'" in result.stderr.str()
    assert "topsecret" not in result.stderr.str() + result.stdout.str()
    assert not (pytester.path / RUNS / "r2").exists()


def test_off_records_nothing_and_imports_no_driver(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import sys
        def pytest_unconfigure(config):
            names = ("sqlite3", "psycopg", "pytest_dome.history.store")
            print("LOADED", sorted(m for m in names if m in sys.modules))
        """
    )
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "--dome-history=off", "-s", "-p", "no:xdist")
    assert result.ret == 0
    assert "LOADED []" in result.stdout.str()
    assert not (pytester.path / STORE).exists()
    result = pytester.runpytest_subprocess("--dome-run-id=r2", "-s", "-p", "no:xdist")
    assert "LOADED ['pytest_dome.history.store', 'sqlite3']" in result.stdout.str()


def test_the_runtime_folders_readers_ignore_the_store_and_its_wal_files(
    pytester: pytest.Pytester, capsys
) -> None:
    pytester.makepyfile("def test_ok(): pass")
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    runs = pytester.path / RUNS
    holder = sqlite3.connect(runs / ".dome-history.sqlite")  # held open: -wal and -shm stay
    try:
        holder.execute("INSERT INTO dome_schema VALUES (99, 'now')")
        names = sorted(p.name for p in runs.iterdir())
        assert {".dome-history.sqlite", ".dome-history.sqlite-wal", ".dome-history.sqlite-shm"} <= set(names)
        capsys.readouterr()
        assert main(["slo", str(runs), "--out", str(pytester.path / "slo.json")]) == 0
        assert main(["replay", "--all", str(runs)]) == 0
        assert main(["status", "r1", "--runtime-dir", str(runs)]) == 0
        assert main(["history", "import", str(runs), "--history", str(pytester.path / "h.sqlite")]) == 0
        captured = capsys.readouterr()
        assert "history" not in captured.err and "not a run folder" not in captured.err
        assert "1 run(s) recorded, 0 refused" in captured.out
    finally:
        holder.close()
    assert os.path.exists(runs / ".dome-history.sqlite")


def test_a_run_refused_as_bad_input_leaves_no_row(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    packet = {"schema_version": "1.0.0", "kind": "packet", "packet_id": "p1"}
    packet["tasks"] = [{"kind": "tests", "id": "t", "select": {"markers": ["slow"]}}]
    (pytester.path / "p.json").write_text(json.dumps(packet))
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "--dome-packet=p.json", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert rows(pytester.path / STORE, "SELECT run_id FROM runs") == []
