"""The questions' commands end to end, over SQLite and a real PostgreSQL
(tests/history_db.py): ``dome flaky``, ``dome quarantine suggest``, ``dome slo
--history`` with a session killed by SIGKILL (real processes), and
``--dome-baseline=last-approved`` in a gated session (pytester)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pytest_dome.cli.main import main
from pytest_dome.history.store import open_store
from test_history_flaky import record, url_of

MONTH = datetime.now(timezone.utc).strftime("%Y-%m")
SRC = Path(__file__).resolve().parent.parent / "src"


def test_dome_flaky_text_json_and_html(
    history_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store(url_of(history_url)) as store:
        for n in range(4):
            record(store, n, "same", {"x": "failed" if n == 3 else "passed", "y": "passed"})
    assert main(["flaky", "--history", history_url]) == 0
    text = capsys.readouterr().out
    assert "1 flaky test(s) over 4 decided run(s) (the last 200 at most)" in text
    assert "25.0% [4.6%-69.9%]  1/4  tests/test_x.py::x" in text and "runs: r003" in text
    page = tmp_path / "history.html"
    assert main(["flaky", "--history", history_url, "--json", "--html", str(page)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(t["task_id"], t["flaked"], t["ran"], t["runs"]) for t in doc["tests"]] == [("x", 1, 4, ["r003"])]
    assert doc["tests"][0]["interval_95"] == [0.045587, 0.699358]
    assert 'aria-label="timeline"' in page.read_text()
    assert main(["flaky", "--history", history_url, "--runs", "2", "--branch", "dev"]) == 0
    assert "no flaky test over 0 decided run(s) of branch dev" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runs", "0"], "dome flaky: --runs: 0 is not a positive number of runs\n"),
        (["--runs", "5", "--days", "2"], "dome flaky: give --runs N or --days D, not both\n"),
        (["--days", "-1"], "dome flaky: --days: -1 is not a positive number of days\n"),
    ],
)
def test_dome_flaky_refuses_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    with open_store(url_of(url)):
        pass
    assert main(["flaky", "--history", url, *args]) == 2
    assert capsys.readouterr().err == message


def test_a_question_never_creates_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.sqlite"
    for argv in (["flaky"], ["quarantine", "suggest"], ["slo", "--month", "2026-11"]):
        assert main([*argv, "--history", str(missing)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"no history store at {missing}" in err, err
    assert not missing.exists()


def test_quarantine_suggest_prints_and_writes_nothing(history_url: str, tmp_path: Path, capsys) -> None:
    with open_store(url_of(history_url)) as store:
        for n in range(4):
            record(store, n, "same", {"x": "failed" if n in (1, 3) else "passed"})
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["quarantine", "suggest", "--history", history_url, "--expires-in", "7"]) == 0
    out = capsys.readouterr().out
    assert 'pattern = "tests/test_x.py::x"' in out and "flaked in 2 of 4 runs" in out
    assert 'owner = "FILL IN' in out and "# evidence: runs r001, r003" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert main(["quarantine", "suggest", "--history", history_url, "--min-flaked", "3"]) == 0
    assert "# nothing to propose" in capsys.readouterr().out


HANG = """
import pathlib, time

def test_hangs():
    pathlib.Path("running").write_text("1")
    time.sleep(120)
"""


def _session(project: Path, run_id: str, url: str, target: str) -> subprocess.Popen[bytes]:
    """A gated session in a process of its own (its output in ``project/RUN_ID.log``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DOME_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:xdist",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
    ]
    argv += [f"--dome-run-id={run_id}", f"--dome-history={url}", target]
    with open(project / f"{run_id}.log", "wb") as log:
        return subprocess.Popen(argv, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_dome_slo_history_counts_a_session_killed_with_sigkill(
    history_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (project / "tests/test_ok.py").write_text("def test_ok():\n    pass\n")
    (project / "tests/test_hang.py").write_text(HANG)
    done = _session(project, "decided", history_url, "tests/test_ok.py")
    assert done.wait(120) == 0, (project / "decided.log").read_text()
    killed = _session(project, "killed", history_url, "tests/test_hang.py")
    deadline = time.monotonic() + 60
    while not (project / "running").exists():
        assert killed.poll() is None and time.monotonic() < deadline, "the session never ran its test"
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait(30) == -signal.SIGKILL
    out = tmp_path / "slo.json"
    code = main(["slo", "--history", history_url, "--month", MONTH, "--json", "--out", str(out)])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report == json.loads(out.read_text())
    slo1 = report["slos"][0]
    assert (slo1["slo"], slo1["counted"], slo1["good"], slo1["met"]) == ("SLO-1", 2, 1, False)
    assert slo1["missed_runs"] == ["killed"]
    assert main(["slo", "--history", history_url, "--month", MONTH, "--out", str(out)]) == 1
    assert "SLO-1 MISSED: 50.00% (1/2)" in capsys.readouterr().out


# --- --dome-baseline=last-approved in a session ---------------------------------------


@pytest.fixture
def on_branch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "BUILDKITE_BRANCH", "CIRCLE_BRANCH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI_COMMIT_REF_NAME", "main")  # the CI says the branch (GitLab's variable)


def test_baseline_last_approved_is_read_from_the_store(
    pytester: pytest.Pytester, on_branch: None, dome_run
) -> None:
    store = f"--dome-history={pytester.path / 'team.sqlite'}"
    pytester.makepyfile(test_a="def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    assert pytester.runpytest("--dome-run-id=base", store).ret == 0
    result = pytester.runpytest("--dome-run-id=next", store, "--dome-baseline=last-approved")
    assert result.ret == 0
    run = dome_run("next")
    summary = json.loads((run.path / "inputs/baseline.summary.json").read_text())
    base = dome_run("base")
    assert summary["baseline"]["run_id"] == "base"
    assert summary["baseline"]["manifest_digest"] == base.manifest["manifest_digest"]
    assert summary["baseline"]["decision_digest"] == base.gate["decision_digest"]
    assert sorted(t["node_id"] for t in summary["tasks"]) == ["test_a.py::test_one", "test_a.py::test_two"]
    result = pytester.runpytest("--dome-run-id=other", store, "--dome-baseline=last-approved:release")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert errors == [
        f"ERROR: --dome-baseline=last-approved:release: no approved run of branch 'release' in the "
        f"history store sqlite://{pytester.path / 'team.sqlite'}"
    ]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not (pytester.path / "ops/runtime/runs/other").exists()
