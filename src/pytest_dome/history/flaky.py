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
from dataclasses import dataclass, field, replace
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


def _sql(window_sql: str) -> str:
    """Per flaky test: runs it ran in, flaked in, passed on a retry in, failed on a
    passing commit in, and the first and last start of a run it flaked in.

    ``bad``: the window's rows through the partial index (failed, errored, retried);
    ``flips``: the (test, commit) pairs of a bad row that another run of the same
    commit passed, each looked up by its key; only the tests of a retry or a flip
    are then read whole and grouped. A commit that fails a test in every run (a
    broken build) costs one lookup a failure, not a read of its tests' history."""
    return f"""
WITH w AS ({window_sql}),
bad AS (
  SELECT k.task_id, k.run_id, k.outcome, k.flaky, w.commit_sha
  FROM w JOIN tasks k ON k.run_id = w.run_id WHERE {_UNSTEADY}
),
flips AS (
  SELECT DISTINCT b.task_id, b.commit_sha FROM bad b
  WHERE b.outcome <> 'passed' AND EXISTS (
    SELECT 1 FROM w w2 JOIN tasks p ON p.run_id = w2.run_id
    WHERE w2.commit_sha = b.commit_sha AND p.task_id = b.task_id AND p.outcome = 'passed'
  )
),
t AS (
  SELECT k.task_id, k.run_id, k.node_id, k.outcome, k.flaky, w.commit_sha, w.started_at
  FROM tasks k JOIN w ON w.run_id = k.run_id
  WHERE k.task_id IN (SELECT task_id FROM bad WHERE flaky = 1 UNION SELECT task_id FROM flips)
    AND k.outcome IN {_OUTCOMES}
),
marked AS (
  SELECT t.*, CASE WHEN t.flaky = 1 OR (f.task_id IS NOT NULL AND t.outcome <> 'passed')
              THEN 1 ELSE 0 END AS flaked,
         CASE WHEN f.task_id IS NOT NULL AND t.outcome <> 'passed' THEN 1 ELSE 0 END AS flipped
  FROM t LEFT JOIN flips f ON f.task_id = t.task_id AND f.commit_sha = t.commit_sha
)
SELECT task_id, MAX(node_id), COUNT(*), SUM(flaked), SUM(flaky), SUM(flipped),
       MIN(CASE WHEN flaked = 1 THEN started_at END), MAX(CASE WHEN flaked = 1 THEN started_at END)
FROM marked GROUP BY task_id HAVING SUM(flaked) > 0
"""


def _evidence_sql(window_sql: str, marks: str) -> str:
    """The runs in which the given tests flaked (same definition, same window)."""
    return f"""
WITH w AS ({window_sql}),
t AS (
  SELECT k.task_id, k.run_id, k.outcome, k.flaky, w.commit_sha, w.started_at
  FROM tasks k JOIN w ON w.run_id = k.run_id
  WHERE k.task_id IN ({marks}) AND k.outcome IN {_OUTCOMES}
),
flips AS (
  SELECT task_id, commit_sha FROM t WHERE commit_sha IS NOT NULL GROUP BY task_id, commit_sha
  HAVING SUM(CASE WHEN outcome = 'passed' THEN 1 ELSE 0 END) > 0
     AND SUM(CASE WHEN outcome <> 'passed' THEN 1 ELSE 0 END) > 0
)
SELECT t.task_id, t.run_id FROM t LEFT JOIN flips f ON f.task_id = t.task_id AND f.commit_sha = t.commit_sha
WHERE t.flaky = 1 OR (f.task_id IS NOT NULL AND t.outcome <> 'passed')
ORDER BY t.task_id, t.started_at, t.run_id
"""


EVIDENCE_BATCH = 500


def flaky_tests(store: Store, window: Window) -> tuple[list[FlakyTest], int]:
    """The tests that flaked in the window, highest rate first; and the window's run count."""
    window_sql, params = window.sql()
    (runs,) = store.query(f"SELECT COUNT(*) FROM ({window_sql}) AS w", params)[0]
    rows = store.query(_sql(window_sql), params)
    found = {
        task_id: FlakyTest(task_id, node_id, int(ran), int(flaked), int(retried), int(flipped), first, last)
        for task_id, node_id, ran, flaked, retried, flipped, first, last in rows
    }
    evidence: dict[str, list[str]] = {t: [] for t in found}
    ids = sorted(found)
    for i in range(0, len(ids), EVIDENCE_BATCH):
        batch = ids[i : i + EVIDENCE_BATCH]
        marks = ", ".join("?" for _ in batch)
        for task_id, run_id in store.query(_evidence_sql(window_sql, marks), [*params, *batch]):
            evidence[task_id].append(run_id)
    tests = [replace(t, evidence=tuple(evidence[t.task_id])) for t in found.values()]
    tests.sort(key=lambda t: (-t.rate, -t.flaked, t.task_id))
    return tests, int(runs)


def timeline(
    store: Store, window: Window, task_ids: list[str]
) -> dict[str, list[tuple[str, str, str, bool]]]:
    """Per test, its outcome in each run of the window, oldest first:
    (started_at, run_id, outcome, passed on a retry)."""
    window_sql, params = window.sql()
    found: dict[str, list[tuple[str, str, str, bool]]] = {t: [] for t in task_ids}
    for i in range(0, len(task_ids), EVIDENCE_BATCH):
        batch = task_ids[i : i + EVIDENCE_BATCH]
        marks = ", ".join("?" for _ in batch)
        sql = (
            f"WITH w AS ({window_sql}) SELECT k.task_id, w.started_at, k.run_id, k.outcome, k.flaky "
            f"FROM tasks k JOIN w ON w.run_id = k.run_id WHERE k.task_id IN ({marks}) "
            "ORDER BY w.started_at, k.run_id"
        )
        for task_id, at, run_id, outcome, retried in store.query(sql, [*params, *batch]):
            found[task_id].append((at, run_id, outcome, bool(retried)))
    return found
