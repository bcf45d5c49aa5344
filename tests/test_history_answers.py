"""The other questions answered from the store, over SQLite and a real PostgreSQL
(tests/history_db.py): the month's SLOs (report/slo_store.py), the last approved
run as a baseline (history/lastapproved.py), quarantine proposals (cli/suggest.py)
and the history page (report/history_html.py)."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_dome.contracts.models import BaselineSummary
from pytest_dome.history.flaky import Window, flaky_tests
from pytest_dome.history.lastapproved import NoBaseline, last_approved, parse, read_last_approved
from pytest_dome.history.store import RunFinish, RunStart, TaskRow, open_store
from pytest_dome.report.history_html import history_html
from pytest_dome.report.slo import describe
from pytest_dome.report.slo_store import compute_store, month_bounds
from test_history_flaky import at, record, url_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECRET = "ghp_" + "a1B2c3D4e5" * 4


def decided(
    run_id: str, when: str, decision: str, source: str = "session", branch: str = "main"
) -> RunFinish:
    return RunFinish(
        run_id, when, commit_sha="c0ffee", branch=branch, finished_at=when.replace(":00:00.", ":01:30."),
        decision=decision, promotion="promote" if decision == "APPROVE" else "hold",
        decision_digest=f"d-{run_id}", input_digest=f"i-{run_id}", manifest_digest=f"m-{run_id}",
        source=source,  # type: ignore[arg-type]
    )  # fmt: skip


TASKS = [TaskRow("t1", "tests/test_a.py::test_one", "passed", False, 1, 0.25)]


def test_month_bounds() -> None:
    assert month_bounds("2026-11") == ("2026-11-01", "2026-12-01")
    assert month_bounds("2026-12") == ("2026-12-01", "2027-01-01")


def test_slo_over_the_store_counts_a_never_decided_run_and_says_what_it_cannot_prove(
    history_url: str,
) -> None:
    with open_store(url_of(history_url)) as store:
        for run_id, day, decision, source in (
            ("a", "2026-11-02", "APPROVE", "session"),
            ("b", "2026-11-03", "REJECT", "import"),
            ("c", "2026-11-03", "APPROVE", "import"),
            ("late", "2026-12-01", "APPROVE", "session"),
        ):
            when = f"{day}T10:00:00.000000Z"
            store.record_started(RunStart(run_id, when, branch="main"))
            store.record_finished(decided(run_id, when, decision, source), TASKS)
        store.record_started(RunStart("killed", "2026-11-04T10:00:00.000000Z", branch="main"))
        report = compute_store(store, "2026-11")
    slos = {s["slo"]: s for s in report["slos"]}
    assert report["runs"] == 4 and report["met"] is False
    assert (slos["SLO-1"]["good"], slos["SLO-1"]["counted"], slos["SLO-1"]["value"]) == (3, 4, 0.75)
    assert slos["SLO-1"]["met"] is False and slos["SLO-1"]["missed_runs"] == ["killed"]
    assert (slos["SLO-2"]["value"], slos["SLO-2"]["met"], slos["SLO-2"]["counted"]) == (None, None, 3)
    assert (slos["SLO-3"]["value"], slos["SLO-3"]["met"]) == (0.5, None)  # c verified at import, a not
    assert slos["SLO-3"]["not_verified_runs"] == ["a"]
    assert (slos["SLO-4"]["value"], slos["SLO-4"]["met"]) == (0, True)
    assert report["daily"]["SLO-1"] == {"2026-11-02": 1.0, "2026-11-03": 1.0, "2026-11-04": 0.0}
    text = "\n".join(describe(report))
    assert "SLO-1 MISSED: 75.00% (3/4)" in text and "missed: killed" in text
    assert "SLO-2 unknown: not known" in text and "not provable from the store" in text


def test_slo_three_is_met_when_every_approved_run_was_verified_and_four_finds_a_secret(
    history_url: str,
) -> None:
    with open_store(url_of(history_url)) as store:
        when = "2026-11-02T10:00:00.000000Z"
        store.record_started(RunStart("c", when, branch="main"))
        store.record_finished(decided("c", when, "APPROVE", "import"), TASKS)
        # a row that did not pass the redactor (a store written by something else)
        with store.db.write(None):
            store.write_tasks("c", [("t2", f"tests/test_a.py::test_two[{SECRET}]", "passed", 0, 1, 0.1)])
        report = compute_store(store, "2026-11")
    slos = {s["slo"]: s for s in report["slos"]}
    assert (slos["SLO-1"]["value"], slos["SLO-1"]["met"]) == (1.0, True)
    assert (slos["SLO-3"]["value"], slos["SLO-3"]["met"]) == (1.0, True)
    assert slos["SLO-4"]["value"] == 1 and slos["SLO-4"]["met"] is False
    assert SECRET not in str(report)


# --- last approved --------------------------------------------------------------------


def test_parse_last_approved() -> None:
    assert parse("last-approved") == (True, None)
    assert parse("last-approved:release/1.x") == (True, "release/1.x")
    assert parse("ops/runtime/runs/rc-1") == (False, None)
    with pytest.raises(NoBaseline, match="no branch after the colon"):
        parse("last-approved:")


def test_last_approved_is_the_latest_approve_of_the_branch(history_url: str) -> None:
    rows = [
        TaskRow("t1", "tests/test_a.py::test_one", "passed", False, 1, 0.25),
        TaskRow("t2", "tests/test_a.py::test_two", "failed", True, 3, 1.5),
    ]
    with open_store(url_of(history_url)) as store:
        for run_id, n, decision, branch in (
            ("old", 0, "APPROVE", "main"),
            ("new", 1, "APPROVE", "main"),
            ("newest-rejected", 2, "REJECT", "main"),
            ("dev-approved", 3, "APPROVE", "dev"),
        ):
            store.record_started(RunStart(run_id, at(n), branch=branch))
            store.record_finished(decided(run_id, at(n), decision, branch=branch), rows)
        store.record_started(RunStart("killed", at(4), branch="main"))
        summary = last_approved(store, "main")
        assert last_approved(store, "nope") is None
    assert isinstance(summary, BaselineSummary)
    assert summary.baseline.run_id == "new" and summary.baseline.gate_status == "APPROVE"
    assert (summary.baseline.decision_digest, summary.baseline.manifest_digest) == ("d-new", "m-new")
    assert [(t.task_id, t.outcome, t.flaky, t.duration_s) for t in summary.tasks] == [
        ("t1", "passed", False, 0.25),
        ("t2", "failed", True, 1.5),
    ]
    url = url_of(history_url)
    assert read_last_approved("last-approved:dev", url, "dev").baseline.run_id == "dev-approved"
    with pytest.raises(
        NoBaseline, match=r"^--dome-baseline=last-approved:nope: no approved run of branch 'nope'"
    ):
        read_last_approved("last-approved:nope", url, "nope")


def test_last_approved_refusals(tmp_path: Path) -> None:
    url = url_of(f"sqlite:///{tmp_path / 'none.sqlite'}")
    with pytest.raises(NoBaseline, match="the run history is off"):
        read_last_approved("last-approved", None, "main")
    with pytest.raises(NoBaseline, match="branch is not known"):
        read_last_approved("last-approved", url, None)
    with pytest.raises(NoBaseline, match="no history store at"):
        read_last_approved("last-approved", url, "main")
    assert not (tmp_path / "none.sqlite").exists()


# --- quarantine proposals and the page -----------------------------------------------


NODES = {"z": "tests/test_x.py::test_z[*-1]"}


def test_suggestions_are_entries_of_the_quarantine_format(history_url: str) -> None:
    from pytest_dome.cli.suggest import OWNER_PLACEHOLDER, TRACKING_PLACEHOLDER, suggestions

    with open_store(url_of(history_url)) as store:
        for n in range(6):
            x = "failed" if n in (1, 3) else "passed"
            record(
                store,
                n,
                f"c{n // 2}",
                {"x": x, "y": ("passed", n == 5), "z": ("passed", n in (2, 4))},
                nodes=NODES,
            )
        tests, _ = flaky_tests(store, Window())
    text = suggestions(tests, "the last 6 runs", "@team/qa", 2, 30)
    doc = tomllib.loads(text)
    assert (doc["schema_version"], doc["kind"]) == ("1.0.0", "quarantine")
    entries = {e["pattern"]: e for e in doc["entries"]}
    assert set(entries) == {"tests/test_x.py::x", "z"}  # y flaked once; z's node id has a '*': its task id
    x = entries["tests/test_x.py::x"]
    assert x["owner"] == "@team/qa" and x["tracking"] == TRACKING_PLACEHOLDER
    assert not re.match(r"^https?://\S+$", x["tracking"])  # the schema refuses it until filled in
    assert x["expires"] == datetime.now(timezone.utc).date() + timedelta(days=30)
    assert "flaked in 2 of 6 runs" in x["reason"]
    assert "# evidence: runs r001, r003" in text
    assert OWNER_PLACEHOLDER not in text  # the owner given


def test_history_page_draws_decisions_durations_and_timelines(history_url: str) -> None:
    with open_store(url_of(history_url)) as store:
        for n in range(4):
            record(store, n, "same", {"x": "failed" if n == 2 else "passed"})
        store.record_started(RunStart("killed", at(5), branch="main"))
        window = Window()
        tests, _ = flaky_tests(store, window)
        page = history_html(store, window, tests)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count('aria-label="decisions"') == 1 and page.count('aria-label="suite duration"') == 1
    assert page.count('aria-label="timeline"') == 1
    assert "killed: started, never decided" in page and "r002: failed" in page
    assert "tests/test_x.py::x" in page and "1/4" in page
