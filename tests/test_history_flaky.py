"""``dome flaky``'s questions of the store (history/flaky.py): the Wilson interval
(plain values, Hypothesis), flip and retry detection over SQLite and a real
PostgreSQL (tests/history_db.py), and the same answer as a plain-Python oracle
for random histories."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_dome.history.flaky import Window, flaky_tests, timeline, wilson
from pytest_dome.history.store import RunFinish, RunStart, Store, TaskRow, open_store
from pytest_dome.history.url import StoreUrl, parse


def url_of(text: str) -> StoreUrl:
    found = parse(text, Path("/"), "test")
    assert found is not None
    return found


def at(n: int) -> str:
    return f"2026-11-{1 + n // 24:02d}T{n % 24:02d}:00:00.000000Z"


def record(
    store: Store,
    n: int,
    commit: str | None,
    outcomes: dict[str, str | tuple[str, bool]],
    branch: str = "main",
    nodes: dict[str, str] | None = None,
) -> str:
    """Run ``r{n}`` started at hour n, of ``commit``: task -> outcome (or (outcome, retried))."""
    run_id = f"r{n:03d}"
    rows = []
    for task, value in sorted(outcomes.items()):
        outcome, retried = value if isinstance(value, tuple) else (value, False)
        node = (nodes or {}).get(task, f"tests/test_x.py::{task}")
        rows.append(TaskRow(task, node, outcome, retried, 2 if retried else 1, 0.5))
    store.record_started(RunStart(run_id, at(n), commit_sha=commit, branch=branch))
    finish = RunFinish(
        run_id, at(n), commit_sha=commit, branch=branch, finished_at=at(n), decision="APPROVE",
        promotion="promote", manifest_digest=run_id,
    )  # fmt: skip
    assert store.record_finished(finish, rows) == "updated"  # its start was recorded
    return run_id


# --- the interval ------------------------------------------------------------------


def test_wilson_plain_values() -> None:
    assert wilson(3, 10) == (0.107791, 0.603222)
    assert wilson(0, 10) == (0.0, 0.277533)
    assert wilson(10, 10) == (0.722467, 1.0)
    assert wilson(1, 200) == (0.000883, 0.027774)
    assert wilson(0, 0) == (0.0, 0.0)
    with pytest.raises(ValueError):
        wilson(11, 10)


@given(st.integers(1, 10**6).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_holds_the_rate_and_mirrors(kn: tuple[int, int]) -> None:
    k, n = kn
    low, high = wilson(k, n)
    assert 0.0 <= low <= round(k / n, 6) + 1e-6 and round(k / n, 6) - 1e-6 <= high <= 1.0
    for bound in (low, high):  # each bound solves (p - k/n)^2 = z^2 p (1 - p) / n
        if 0.0 < bound < 1.0:
            assert abs((bound - k / n) ** 2 - 1.959963984540054**2 * bound * (1 - bound) / n) < 1e-5
    mirror_low, mirror_high = wilson(n - k, n)
    assert abs(low - (1 - mirror_high)) <= 2e-6 and abs(high - (1 - mirror_low)) <= 2e-6


@given(st.integers(1, 1000), st.integers(0, 1000))
def test_wilson_narrows_with_more_runs(n: int, k: int) -> None:
    k = k % (n + 1)
    low, high = wilson(k, n)
    low4, high4 = wilson(4 * k, 4 * n)
    assert high4 - low4 < high - low


# --- flips and retries, over both stores -------------------------------------------


def test_flips_on_one_commit_and_retries_are_flaky_fixed_failures_are_not(history_url: str) -> None:
    with open_store(url_of(history_url)) as store:
        record(store, 0, "aaa", {"x": "passed", "fixed": "failed", "retry": "passed", "skip": "skipped"})
        r1 = record(store, 1, "aaa", {"x": "failed", "fixed": "failed", "retry": "passed", "skip": "passed"})
        r2 = record(
            store, 2, "bbb", {"x": "passed", "fixed": "passed", "retry": ("passed", True), "skip": "skipped"}
        )
        r3 = record(
            store, 3, "bbb", {"x": "error", "fixed": "passed", "retry": ("passed", True), "skip": "failed"}
        )
        tests, runs = flaky_tests(store, Window())
    assert runs == 4
    found = {t.task_id: t for t in tests}
    assert set(found) == {"x", "retry"}  # "fixed" failed on aaa in every run: a real failure
    x, retry = found["x"], found["retry"]
    assert (x.ran, x.flaked, x.flipped, x.retried) == (4, 2, 2, 0)
    assert x.evidence == (r1, r3) and (x.first_seen, x.last_seen) == (at(1), at(3))
    assert (retry.ran, retry.flaked, retry.flipped, retry.retried) == (4, 2, 0, 2)
    assert retry.evidence == (r2, r3)
    assert x.rate == 0.5 and x.interval == wilson(2, 4)
    assert x.node_id == "tests/test_x.py::x"
    # "skip" ran to an outcome twice (passed on aaa, failed on bbb): different commits, not flaky
    assert [t.task_id for t in tests] == ["retry", "x"]  # same rate and count: by task id


def test_the_window_runs_days_and_branch(history_url: str) -> None:
    with open_store(url_of(history_url)) as store:
        record(store, 0, "aaa", {"x": "passed"})
        record(store, 1, "aaa", {"x": "failed"})
        for n in range(2, 6):
            record(store, n, f"c{n}", {"x": "passed"})
        record(store, 6, "ddd", {"x": "passed"}, branch="dev")
        record(store, 7, "ddd", {"x": "failed"}, branch="dev")
        store.record_started(RunStart("killed", at(8), commit_sha="ddd", branch="dev"))  # never decided
        assert [t.flaked for t in flaky_tests(store, Window(runs=8))[0]] == [2]
        assert flaky_tests(store, Window(runs=8, branch="main"))[0][0].evidence == ("r001",)
        assert flaky_tests(store, Window(runs=8, branch="dev"))[0][0].evidence == ("r007",)
        assert flaky_tests(store, Window(runs=4, branch="main")) == ([], 4)  # the flip is older
        assert flaky_tests(store, Window(runs=None, since=at(2)))[0][0].evidence == ("r007",)
        assert flaky_tests(store, Window(runs=None, since=at(9))) == ([], 0)
        cells = timeline(store, Window(runs=3), ["x"])["x"]
    assert [(run_id, outcome) for _, run_id, outcome, _ in cells] == [
        ("r005", "passed"),
        ("r006", "passed"),
        ("r007", "failed"),
    ]


# --- the SQL against a plain-Python oracle ----------------------------------------

OUTCOME = st.sampled_from(["passed", "failed", "error", "skipped", "missing", ("passed", True)])
HISTORY = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3", None]),
        st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), OUTCOME, min_size=1),
    ),
    min_size=1,
    max_size=12,
)


def oracle(
    history: list[tuple[str | None, dict[str, object]]], last: int
) -> dict[str, tuple[int, int, list[str]]]:
    runs = [(f"r{n:03d}", commit, outcomes) for n, (commit, outcomes) in enumerate(history)][-last:]
    passed_on: dict[str, set[str | None]] = defaultdict(set)
    for _, commit, outcomes in runs:
        for task, value in outcomes.items():
            if value == "passed" or value == ("passed", True):
                passed_on[task].add(commit)
    found: dict[str, tuple[int, int, list[str]]] = {}
    for task in {t for _, _, o in runs for t in o}:
        ran, flaked = 0, []
        for run_id, commit, outcomes in runs:
            value = outcomes.get(task)
            if value not in ("passed", ("passed", True), "failed", "error"):
                continue
            ran += 1
            failed_on_passing = (
                value in ("failed", "error") and commit is not None and commit in passed_on[task]
            )
            if value == ("passed", True) or failed_on_passing:
                flaked.append(run_id)
        if flaked:
            found[task] = (ran, len(flaked), flaked)
    return found


@settings(max_examples=60)
@given(HISTORY, st.integers(1, 12))
def test_the_sql_agrees_with_the_definition(
    history: list[tuple[str | None, dict[str, object]]], last: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        with open_store(url_of(f"sqlite:///{folder}/h.sqlite")) as store:
            for n, (commit, outcomes) in enumerate(history):
                record(store, n, commit, outcomes)  # type: ignore[arg-type]
            tests, runs = flaky_tests(store, Window(runs=last))
    assert runs == min(last, len(history))
    assert {t.task_id: (t.ran, t.flaked, list(t.evidence)) for t in tests} == oracle(history, last)
    rates = [t.rate for t in tests]
    assert rates == sorted(rates, reverse=True)
