"""``dome history import`` (verified evidence only, idempotent, a replaced run
replaces its row) and ``dome history`` (the list), against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_dome.cli.main import main
from pytest_dome.core.redact import Redactor
from pytest_dome.history.store import open_store
from pytest_dome.history.url import parse

RUNS = "ops/runtime/runs"


def store_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    found = parse(url, Path("/"), "test")
    assert found is not None
    with open_store(found, Redactor({})) as store:
        return store.query(sql)


@pytest.fixture
def runs(pytester: pytest.Pytester) -> Path:
    """Three runs, the session's own history off: good, failed (REJECT), tampered."""
    pytester.makepyfile(test_a="def test_one(): pass\ndef test_two(): pass\n")
    assert pytester.runpytest("--dome-run-id=good", "--dome-history=off").ret == 0
    pytester.makepyfile(test_b="def test_bad(): assert 0\n")
    assert pytester.runpytest("--dome-run-id=bad", "--dome-history=off").ret == 1
    assert pytester.runpytest("--dome-run-id=tampered", "--dome-history=off").ret == 1
    folder = pytester.path / RUNS
    (folder / "tampered/plan.json").write_text("{}")
    return folder


def test_import_records_what_verifies_and_refuses_the_rest(runs: Path, history_url: str, capsys) -> None:
    assert main(["history", "import", str(runs), "--history", history_url]) == 1
    out, err = capsys.readouterr()
    assert "bad: inserted" in out and "good: inserted" in out and "2 run(s) recorded, 1 refused" in out
    (line,) = err.strip().splitlines()
    assert line.startswith(f"dome history import: refused {runs}/tampered: EVIDENCE_")
    assert "plan.json" in line
    assert store_rows(
        history_url, "SELECT run_id, state, decision, passed, failed FROM runs ORDER BY run_id"
    ) == [
        ("bad", "decided", "REJECT", 2, 1),
        ("good", "decided", "APPROVE", 2, 0),
    ]
    assert store_rows(history_url, "SELECT COUNT(*) FROM tasks") == [(5,)]


def test_import_twice_is_one_run_and_a_replaced_run_updates_it(
    pytester: pytest.Pytester, runs: Path, history_url: str, capsys
) -> None:
    good = str(runs / "good")
    assert main(["history", "import", good, "--history", history_url]) == 0
    assert main(["history", "import", good, good, "--history", history_url]) == 0
    assert capsys.readouterr().out.count("good: unchanged") == 2
    assert store_rows(history_url, "SELECT COUNT(*) FROM tasks WHERE run_id = 'good'") == [(2,)]
    (pytester.path / "test_b.py").unlink()
    (pytester.path / "test_a.py").write_text("def test_one(): pass\n")
    assert pytester.runpytest("--dome-run-id=good", "--dome-replace", "--dome-history=off").ret == 0
    assert main(["history", "import", good, "--history", history_url]) == 0
    assert "good: updated" in capsys.readouterr().out
    manifest = json.loads((runs / "good/run.manifest.json").read_text())
    assert store_rows(history_url, "SELECT manifest_digest, passed FROM runs") == [
        (manifest["manifest_digest"], 1)
    ]
    assert store_rows(history_url, "SELECT node_id FROM tasks") == [("test_a.py::test_one",)]


def test_history_lists_recent_runs(runs: Path, history_url: str, capsys) -> None:
    main(["history", "import", str(runs), "--history", history_url])
    capsys.readouterr()
    assert main(["history", "--history", history_url, "--json", "--limit", "1"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["run_id"] == "good" or listed["run_id"] == "bad"
    assert set(listed) >= {
        "run_id",
        "state",
        "decision",
        "promotion",
        "commit_sha",
        "branch",
        "duration_s",
        "counts",
    }
    assert main(["history", "--history", history_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert any(" bad  REJECT (stop) " in line and "1 failed" in line for line in lines)
    assert main(["history", "--history", history_url, "--since", "2000-01-01", "--until", "2000-12-31"]) == 0
    assert capsys.readouterr().out.strip() == "no runs recorded (that match)"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "--since", "yesterday"], "--since: 'yesterday' is not a date; give YYYY-MM-DD"),
        (["history", "--limit", "0"], "--limit: 0 is not a positive number of runs"),
        (["history", "--history", "ftp://u:pw1234@h/x"], "--history: 'ftp://u:***@h/x': unknown scheme"),
        (["history", "--history", "off"], "the run history is off"),
        (["history", "--history", "nothing-here.sqlite"], "no history store at "),
        (["history", "import", "no-such-dir", "--history", "h.sqlite"], "no-such-dir: no such folder"),
    ],
)
def test_bad_input_is_one_line(argv: list[str], message: str, capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
    assert "pw1234" not in err


def test_the_command_finds_the_store_as_the_session_does(
    pytester: pytest.Pytester, monkeypatch, capsys
) -> None:
    pytester.makepyfile("def test_ok(): pass")
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    monkeypatch.chdir(pytester.path)
    capsys.readouterr()
    assert main(["history", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["r1"]
