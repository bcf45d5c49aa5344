"""The run history store, one suite over SQLite and a real PostgreSQL (tests/history_db.py):
migrations, the two writes of a run, idempotent and replaced runs, the reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_dome.core.redact import Redactor
from pytest_dome.history.schema import LATEST, MIGRATIONS
from pytest_dome.history.store import (
    COUNTS,
    HistoryError,
    RunFinish,
    RunStart,
    TaskRow,
    open_store,
)
from pytest_dome.history.url import HistoryUrlError, StoreUrl, parse, resolve, shown


def url_of(text: str) -> StoreUrl:
    found = parse(text, Path("/"), "test")
    assert found is not None
    return found


def start(run_id: str, at: str = "2026-11-02T10:00:00.000000Z", branch: str | None = "main") -> RunStart:
    return RunStart(run_id, at, commit_sha="c0ffee", branch=branch, ci_job="github:1/1/test", host="ci-1")


def finish(
    run_id: str, digest: str = "m1", at: str = "2026-11-02T10:00:00.000000Z", **kw: object
) -> RunFinish:
    fields: dict[str, object] = dict(
        run_id=run_id,
        started_at=at,
        finished_at=at.replace("10:00:00", "10:01:30"),
        decision="APPROVE",
        promotion="promote",
        reason_codes=("GATE_APPROVED",),
        counts={"planned": 3, "passed": 2, "failed": 1, "flaky": 1},
        exit_status=0,
        risk_score=12.5,
        input_digest="i" * 64,
        decision_digest="d" * 64,
        manifest_digest=digest,
    )
    fields.update(kw)
    return RunFinish(**fields)  # type: ignore[arg-type]


ROWS = [
    TaskRow("a", "tests/test_a.py::test_one", "passed", False, 1, 0.25),
    TaskRow("b", "tests/test_a.py::test_two", "passed", True, 2, 1.5),
    TaskRow("c", "tests/test_a.py::test_three", "failed", False, 2, 0.125),
]


def test_migrations_run_once_and_are_recorded(history_url: str) -> None:
    url = url_of(history_url)
    for _ in range(3):
        with open_store(url) as store:
            versions = store.query("SELECT version FROM dome_schema ORDER BY version")
            assert versions == [(v,) for v, _ in MIGRATIONS]
            assert store.query("SELECT COUNT(*) FROM runs") == [(0,)]
    assert LATEST == MIGRATIONS[-1][0]


def test_a_run_is_started_then_decided_with_its_tasks(history_url: str) -> None:
    with open_store(url_of(history_url)) as store:
        store.record_started(start("r1"))
        (row,) = store.list_runs()
        assert (row.run_id, row.state, row.decision, row.commit_sha, row.branch) == (
            "r1",
            "started",
            None,
            "c0ffee",
            "main",
        )
        assert store.record_finished(finish("r1"), ROWS) == "updated"
        row = store.get_run("r1")
        assert row is not None
        assert (row.state, row.decision, row.promotion, row.reason_codes) == (
            "decided",
            "APPROVE",
            "promote",
            ("GATE_APPROVED",),
        )
        assert row.duration_s == 90.0 and row.risk_score == 12.5 and row.ci_job == "github:1/1/test"
        assert row.counts == {
            name: {"planned": 3, "passed": 2, "failed": 1, "flaky": 1}.get(name, 0) for name in COUNTS
        }
        assert store.tasks_of("r1") == ROWS


def test_the_same_run_twice_is_one_run_and_a_replaced_run_replaces_its_tasks(history_url: str) -> None:
    with open_store(url_of(history_url)) as store:
        assert store.record_finished(finish("r1", "m1"), ROWS) == "inserted"
        assert store.record_finished(finish("r1", "m1"), ROWS) == "unchanged"
        assert store.query("SELECT COUNT(*) FROM runs") == [(1,)]
        assert store.query("SELECT COUNT(*) FROM tasks") == [(3,)]
        replaced = [
            ROWS[0]._replace(outcome="failed"),
            TaskRow("d", "tests/test_d.py::test", "passed", False, 1, 0.5),
        ]
        assert store.record_finished(finish("r1", "m2", decision="REJECT"), replaced) == "updated"
        row = store.get_run("r1")
        assert row is not None and (row.decision, row.manifest_digest) == ("REJECT", "m2")
        assert store.tasks_of("r1") == replaced


def test_an_import_keeps_where_the_session_said_it_ran(history_url: str) -> None:
    with open_store(url_of(history_url)) as store:
        store.record_started(start("r1", branch="release/2"))
        imported = finish("r1", source="import")
        assert imported.branch is None and imported.ci_job is None
        store.record_finished(imported, ROWS)
        row = store.get_run("r1")
        assert row is not None
        assert (row.branch, row.ci_job, row.host, row.source) == (
            "release/2",
            "github:1/1/test",
            "ci-1",
            "import",
        )


def test_a_run_started_again_is_started_without_its_old_decision(history_url: str) -> None:
    with open_store(url_of(history_url)) as store:
        store.record_finished(finish("r1"), ROWS)
        store.record_started(start("r1", at="2026-11-03T08:00:00.000000Z"))
        row = store.get_run("r1")
        assert row is not None
        assert (row.state, row.decision, row.manifest_digest, row.counts) == ("started", None, None, {})
        assert row.started_at == "2026-11-03T08:00:00.000000Z"
        assert store.tasks_of("r1") == []


def test_runs_are_listed_newest_first_by_branch_and_date(history_url: str) -> None:
    with open_store(url_of(history_url)) as store:
        for i, (day, branch) in enumerate([("01", "main"), ("02", "dev"), ("03", "main"), ("04", "main")]):
            store.record_started(start(f"r{i}", at=f"2026-11-{day}T10:00:00.000000Z", branch=branch))
        assert [r.run_id for r in store.list_runs()] == ["r3", "r2", "r1", "r0"]
        assert [r.run_id for r in store.list_runs(branch="main")] == ["r3", "r2", "r0"]
        assert [r.run_id for r in store.list_runs(since="2026-11-02", until="2026-11-04")] == ["r2", "r1"]
        assert [r.run_id for r in store.list_runs(branch="main", limit=1)] == ["r3"]
        assert store.list_runs(branch="nope") == []


def test_every_text_is_redacted_before_it_is_stored(history_url: str) -> None:
    secret = "s3cr3t-value-9f8e7d"
    redactor = Redactor({"DEPLOY_TOKEN": secret})
    with open_store(url_of(history_url), redactor) as store:
        store.record_started(RunStart("r1", "2026-11-02T10:00:00.000000Z", branch=f"fix-{secret}"))
        rows = [TaskRow("a", f"tests/test_a.py::test[{secret}]", "passed", False, 1, 0.1)]
        store.record_finished(finish("r1", ci_job=f"job-{secret}", reason_codes=(f"X_{secret}",)), rows)
        dump = repr(store.query("SELECT * FROM runs")) + repr(store.query("SELECT * FROM tasks"))
    assert secret not in dump
    assert "[REDACTED:env_secret]" in dump


def test_a_store_that_cannot_be_reached_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = url_of(f"postgresql://dome:hunter2-pw@/nodb?host={tmp_path}/nowhere&port=1")
    with pytest.raises(HistoryError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "hunter2-pw" not in message and "\n" not in message
    assert message.startswith("cannot open the history store postgresql://dome:***@/nodb")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(HistoryError, match="cannot open the history store sqlite:///"):
        open_store(url_of(f"sqlite:///{tmp_path}/a-file/history.sqlite"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("off", None),
        ("OFF", None),
        ("postgresql://u:p@db/h", StoreUrl("postgresql", "postgresql://u:p@db/h")),
        ("postgres://db/h", StoreUrl("postgresql", "postgres://db/h")),
        ("sqlite:///var/h.sqlite", StoreUrl("sqlite", "/var/h.sqlite")),
        ("sqlite:rel/h.sqlite", StoreUrl("sqlite", "/base/rel/h.sqlite")),
        ("rel/h.sqlite", StoreUrl("sqlite", "/base/rel/h.sqlite")),
    ],
)
def test_history_values(value: str, expected: StoreUrl | None) -> None:
    assert parse(value, Path("/base"), "x") == expected


@pytest.mark.parametrize("value", ["mysql://u:pw@h/db", "sqlite://h.sqlite", "sqlite:", "  "])
def test_bad_history_values_are_one_line(value: str) -> None:
    with pytest.raises(HistoryUrlError) as caught:
        parse(value, Path("/base"), "--dome-history")
    assert str(caught.value).startswith("--dome-history: ") and "pw" not in str(caught.value)


def test_precedence_option_env_table_default() -> None:
    def where(option: str | None, env: str | None, table: str | None) -> StoreUrl | None:
        return resolve(
            option, env, table, invocation_dir=Path("/inv"), rootdir=Path("/root"), runtime_dir=Path("/rt")
        )

    assert where("o.sqlite", "e.sqlite", "t.sqlite") == StoreUrl("sqlite", "/inv/o.sqlite")
    assert where(None, "e.sqlite", "t.sqlite") == StoreUrl("sqlite", "/inv/e.sqlite")
    assert where(None, None, "t.sqlite") == StoreUrl("sqlite", "/root/t.sqlite")
    assert where(None, None, None) == StoreUrl("sqlite", "/rt/.dome-history.sqlite")
    assert where(None, "off", "t.sqlite") is None
    assert where("off", "e.sqlite", None) is None


def test_shown_hides_every_password() -> None:
    assert (
        shown("a postgresql://me:pa:ss@h/db b postgres://x@h")
        == "a postgresql://me:***@h/db b postgres://x@h"
    )


@pytest.mark.parametrize(("ci", "outcome"), [("true", "errors"), ("", "skipped")])
def test_without_a_postgresql_the_tests_fail_under_ci_and_skip_elsewhere(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    monkeypatch.delenv("DOME_TEST_PG_URL", raising=False)
    monkeypatch.setenv("CI", ci)
    here = Path(__file__).resolve().parent
    paths = [str(here), str(here.parent / "scripts"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    pytester.makeconftest(
        """
        import pg_cluster
        pytest_plugins = ["history_db"]
        def refuse(fast=True):
            raise pg_cluster.ClusterError("no initdb: install the PostgreSQL server")
        pg_cluster.start = refuse
        """
    )
    pytester.makepyfile("def test_needs_pg(pg_url): pass")
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-rs")
    result.assert_outcomes(**{outcome: 1})
    assert "no initdb: install the PostgreSQL server" in result.stdout.str()


def test_a_tests_ids_are_stored_once_however_many_runs_record_it(history_url: str) -> None:
    """Runs record results as integer pairs; a task id with a node id is kept once in
    ``tests``: a store of many runs of one suite does not repeat its ids, and each run
    still reads back the node ids it ran (a moved test is a second pair)."""
    with open_store(url_of(history_url)) as store:
        for n in range(3):
            store.record_finished(finish(f"r{n}", f"m{n}"), ROWS)
        moved = [ROWS[0]._replace(node_id="tests/test_moved.py::test_one"), *ROWS[1:]]
        store.record_finished(finish("r3", "m3"), moved)
        assert store.query("SELECT COUNT(*) FROM results") == [(12,)]
        assert store.query("SELECT COUNT(*), COUNT(DISTINCT task_id) FROM tests") == [(4, 3)]
        assert store.tasks_of("r1") == ROWS  # the view: ids by key, as each run recorded them
        assert store.tasks_of("r3") == moved
