"""``dome flaky``: the tests that flaked across the runs of the store.

A test *flaked in a run* when, in that run, it either

- passed only on a retry (``tasks.flaky = 1``), or
- failed (or errored) while another run of the **same commit** in the window
  passed it: the code did not change, the outcome did (a *flip*).

Its **flip rate** is the runs in which it flaked / the runs in which it ran to
an outcome (passed, failed or error: not skipped, xfailed, xpassed or missing),
over the window: the last N decided runs (default 200), or the runs started in
the last D days, of one branch or all. The rate comes with a Wilson score
interval (95 %): with 3 flakes in 10 runs the rate is 30 % but anything from
11 % to 60 % is consistent with it.

The aggregation is SQL (``GROUP BY``), in steps that stay fast on a large store:
the rows that failed, errored or passed on a retry are found through the partial
index of migration 2 (few, in a healthy suite); a failure is a flip when a run of
its commit passed the test (a lookup by key); only the tests with a retry or a
flip are read whole and grouped by test for the rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .store import Store

Z95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95 % interval."""
DEFAULT_RUNS = 200


def wilson(flaked: int, ran: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``flaked`` successes in ``ran`` trials (0, 0 for none)."""
    if ran <= 0:
        return (0.0, 0.0)
    if not 0 <= flaked <= ran:
        raise ValueError(f"{flaked} of {ran}: not a proportion")
    p = flaked / ran
    z2 = z * z
    denom = 1 + z2 / ran
    centre = (p + z2 / (2 * ran)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / ran + z2 / (4 * ran * ran))
    return (max(0.0, round(centre - half, 6)), min(1.0, round(centre + half, 6)))


@dataclass(frozen=True)
class Window:
    """Which runs are looked at: the last ``runs`` decided runs, or those started
    since ``since`` (ISO text), of ``branch`` (None: every branch)."""

    runs: int | None = DEFAULT_RUNS
    since: str | None = None
    branch: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        where: list[str] = ["state = 'decided'"]
        params: list[Any] = []
        if self.branch is not None:
            where.append("branch = ?")
            params.append(self.branch)
        if self.since is not None:
            where.append("started_at >= ?")
            params.append(self.since)
        sql = f"SELECT run_id, commit_sha, started_at FROM runs WHERE {' AND '.join(where)}"
        sql += " ORDER BY started_at DESC, run_id DESC"
        if self.runs is not None:
            sql += " LIMIT ?"
            params.append(self.runs)
        return sql, params


@dataclass(frozen=True)
class FlakyTest:
    task_id: str
    node_id: str
    ran: int
    """Runs of the window in which the test ran to an outcome: the rate's denominator."""
    flaked: int
    """Runs in which it passed only on a retry, or failed on a commit it passed on."""
    retried: int
    flipped: int
    first_seen: str
    last_seen: str
    evidence: tuple[str, ...] = field(default=())
    """The run ids in which it flaked, oldest first."""

    @property
    def rate(self) -> float:
        return round(self.flaked / self.ran, 6) if self.ran else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.flaked, self.ran)

    def as_json(self) -> dict[str, Any]:
        low, high = self.interval
        return {
            "task_id": self.task_id,
            "node_id": self.node_id,
            "rate": self.rate,
            "interval_95": [low, high],
            "flaked": self.flaked,
            "ran": self.ran,
            "retried": self.retried,
            "flipped": self.flipped,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "runs": list(self.evidence),
        }


_OUTCOMES = "('passed', 'failed', 'error')"
_UNSTEADY = "(k.flaky = 1 OR k.outcome IN ('failed', 'error'))"
"""The partial index's condition (migration 2), written as the index writes it."""


def _candidates_sql(window_sql: str, kind: str) -> str:
    """The tests that may have flaked: a retry, or a failure whose commit another run passed.

    ``bad``: the window's rows through the partial index (failed, errored, retried);
    a failure's commit is looked up run by run, by key (run id, task id). A commit
    that fails a test in every run (a broken build) costs one lookup a run of it
    a failure, not a read of the test's history."""
    return f"""
WITH w AS ({window_sql}),
bad AS (
  SELECT k.task_id, k.run_id, k.outcome, k.flaky, w.commit_sha
  FROM w JOIN tasks k ON k.run_id = w.run_id WHERE {_UNSTEADY}
)
SELECT task_id FROM bad WHERE flaky = 1
UNION
{FLIPPED[kind]}
"""


FLIPPED = {
    # SQLite: a correlated lookup a failure, by key (a join would build a Bloom filter
    # of the whole tasks table first).
    "sqlite": """SELECT b.task_id FROM bad b
WHERE b.outcome <> 'passed' AND EXISTS (
  SELECT 1 FROM tasks p
  WHERE p.task_id = b.task_id AND p.outcome = 'passed'
    AND p.run_id IN (SELECT w2.run_id FROM w w2 WHERE w2.commit_sha = b.commit_sha)
)""",
    # PostgreSQL: a join, which it plans as a nested loop by key (the correlated form
    # above is a re-scan of the window a failure: 60 times slower there).
    "postgresql": """SELECT b.task_id FROM bad b CROSS JOIN w w2 CROSS JOIN tasks p
WHERE b.outcome <> 'passed' AND w2.commit_sha = b.commit_sha
  AND p.run_id = w2.run_id AND p.task_id = b.task_id AND p.outcome = 'passed'""",
}
"""The failures whose commit another run of the window passed: the same question,
in the form each planner answers by key."""


def _rates_sql(window_sql: str, marks: str, concat: str) -> str:
    """Per test of the list ``marks``: runs it ran in, flaked in, passed on a retry
    in, failed on a passing commit in, the first and last start of a run it flaked
    in, and those runs; grouped by (test, commit) for the flips, by test for the rest."""
    return f"""
WITH w AS ({window_sql}),
t AS (
  SELECT k.task_id, k.run_id, k.node_id, k.outcome, k.flaky, w.commit_sha, w.started_at
  FROM tasks k JOIN w ON w.run_id = k.run_id
  WHERE k.task_id IN ({marks}) AND k.outcome IN {_OUTCOMES}
),
flips AS (
  SELECT task_id, commit_sha FROM t WHERE commit_sha IS NOT NULL GROUP BY task_id, commit_sha
  HAVING SUM(CASE WHEN outcome = 'passed' THEN 1 ELSE 0 END) > 0
     AND SUM(CASE WHEN outcome <> 'passed' THEN 1 ELSE 0 END) > 0
),
marked AS (
  SELECT t.*, CASE WHEN t.flaky = 1 OR (f.task_id IS NOT NULL AND t.outcome <> 'passed')
              THEN 1 ELSE 0 END AS flaked,
         CASE WHEN f.task_id IS NOT NULL AND t.outcome <> 'passed' THEN 1 ELSE 0 END AS flipped
  FROM t LEFT JOIN flips f ON f.task_id = t.task_id AND f.commit_sha = t.commit_sha
)
SELECT task_id, MAX(node_id), COUNT(*), SUM(flaked), SUM(flaky), SUM(flipped),
       MIN(CASE WHEN flaked = 1 THEN started_at END), MAX(CASE WHEN flaked = 1 THEN started_at END),
       {concat}(CASE WHEN flaked = 1 THEN started_at || ' ' || run_id END, ',')
FROM marked GROUP BY task_id HAVING SUM(flaked) > 0
"""


BATCH = 500
"""Tests grouped by one statement: an explicit list, which both planners read by index."""
CONCAT = {"sqlite": "group_concat", "postgresql": "string_agg"}
"""Each dialect's aggregate that joins texts: the runs as evidence come with the counts."""


def _test(
    task_id: str,
    node: str,
    ran: int,
    flaked: int,
    retried: int,
    flipped: int,
    first: str,
    last: str,
    runs: str,
) -> FlakyTest:
    """A row of the query: ``runs`` is 'STARTED_AT RUN_ID' of each flake, joined by commas."""
    evidence = tuple(run.split(" ", 1)[1] for run in sorted(runs.split(",")))
    counts = (int(ran), int(flaked), int(retried), int(flipped))
    return FlakyTest(task_id, node, *counts, first, last, evidence)


def flaky_tests(store: Store, window: Window) -> tuple[list[FlakyTest], int]:
    """The tests that flaked in the window, highest rate first; and the window's run count."""
    window_sql, params = window.sql()
    (runs,) = store.query(f"SELECT COUNT(*) FROM ({window_sql}) AS w", params)[0]
    candidates = sorted(t for (t,) in store.query(_candidates_sql(window_sql, store.kind), params))
    tests = []
    for i in range(0, len(candidates), BATCH):
        batch = candidates[i : i + BATCH]
        sql = _rates_sql(window_sql, ", ".join("?" for _ in batch), CONCAT[store.kind])
        tests += [_test(*row) for row in store.query(sql, [*params, *batch])]
    tests.sort(key=lambda t: (-t.rate, -t.flaked, t.task_id))
    return tests, int(runs)


def timeline(
    store: Store, window: Window, task_ids: list[str]
) -> dict[str, list[tuple[str, str, str, bool]]]:
    """Per test, its outcome in each run of the window, oldest first:
    (started_at, run_id, outcome, passed on a retry)."""
    window_sql, params = window.sql()
    found: dict[str, list[tuple[str, str, str, bool]]] = {t: [] for t in task_ids}
    for i in range(0, len(task_ids), BATCH):
        batch = task_ids[i : i + BATCH]
        marks = ", ".join("?" for _ in batch)
        sql = (
            f"WITH w AS ({window_sql}) SELECT k.task_id, w.started_at, k.run_id, k.outcome, k.flaky "
            f"FROM tasks k JOIN w ON w.run_id = k.run_id WHERE k.task_id IN ({marks}) "
            "ORDER BY w.started_at, k.run_id"
        )
        for task_id, at, run_id, outcome, retried in store.query(sql, [*params, *batch]):
            found[task_id].append((at, run_id, outcome, bool(retried)))
    return found
