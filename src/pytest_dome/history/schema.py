"""The store's schema, as numbered migrations, each applied once.

``dome_schema`` holds the versions applied. A store is brought up to date when it
is opened: a read of that table when it already is (the common case, no lock);
otherwise under the write lock (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's
advisory lock), in one transaction that reads the applied versions again, so
twenty processes opening a new store at once apply each migration exactly once.

A migration is SQL both dialects accept (``{key}``: the dialect's key column).
Timestamps are ISO 8601 text in UTC as the evidence writes them
(``2026-11-24T10:00:00.000000Z``): they sort as text, alike in both. Flags are
integers 0/1.
"""

from __future__ import annotations

from .dialect import Dialect

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            # {key}: the dialect's integer key that the database assigns (Dialect.auto_key).
            """CREATE TABLE runs (
                run_key {key},
                run_id TEXT NOT NULL UNIQUE,
                state TEXT NOT NULL CHECK (state IN ('started', 'decided')),
                started_at TEXT NOT NULL,
                finished_at TEXT,
                commit_sha TEXT,
                branch TEXT,
                ci_job TEXT,
                host TEXT,
                decision TEXT,
                promotion TEXT,
                reason_codes TEXT,
                planned INTEGER,
                passed INTEGER,
                failed INTEGER,
                error INTEGER,
                skipped INTEGER,
                xfailed INTEGER,
                xpassed INTEGER,
                missing INTEGER,
                flaky INTEGER,
                critical_not_passed INTEGER,
                exit_status INTEGER,
                risk_score DOUBLE PRECISION,
                duration_s DOUBLE PRECISION,
                input_digest TEXT,
                decision_digest TEXT,
                manifest_digest TEXT,
                source TEXT NOT NULL,
                recorded_at TEXT NOT NULL
            )""",
            "CREATE INDEX runs_by_branch_time ON runs (branch, started_at)",
            "CREATE INDEX runs_by_time ON runs (started_at)",
            # A test's ids once (a task id with each node id it ran as), and a run's results as
            # integer pairs: a row of a 7,815-task run was ~600 bytes with both ids in the
            # row and in two indexes (121 MB after 30 runs, 0.2 s a run to insert on
            # ext4, growing); interned, ~60 (16.5 MB, 0.04-0.06 s), measured in 3b26f74+.
            """CREATE TABLE tests (
                test_key {key},
                task_id TEXT NOT NULL,
                node_id TEXT NOT NULL,
                UNIQUE (task_id, node_id)
            )""",
            """CREATE TABLE results (
                run_key BIGINT NOT NULL,
                test_key BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                flaky INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                duration_s DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (run_key, test_key)
            )""",
            "CREATE INDEX results_by_test ON results (test_key, run_key)",
            # What every reader queries: one row per task of a run, by ids.
            """CREATE VIEW tasks AS
                SELECT r.run_id, t.task_id, t.node_id, x.outcome, x.flaky, x.attempts, x.duration_s
                FROM results x
                JOIN runs r ON r.run_key = x.run_key
                JOIN tests t ON t.test_key = x.test_key""",
        ),
    ),
    (
        2,
        (
            # dome flaky's candidates (history/flaky.py): the rows that failed, errored or
            # passed only on a retry, by run; few in a healthy suite, so a window of
            # 500 runs of 10,000 tasks is searched through this index, not 5 million rows.
            "CREATE INDEX results_unsteady ON results (run_key, test_key) "
            "WHERE flaky = 1 OR outcome IN ('failed', 'error')",
        ),
    ),
)
LATEST = MIGRATIONS[-1][0]
MIGRATION_LOCK = "dome-history-migrations"


def applied(db: Dialect) -> set[int]:
    """The versions applied (empty for a new store)."""
    return {int(v) for (v,) in db.execute("SELECT version FROM dome_schema")}


def migrate(db: Dialect, now: str) -> int:
    """Apply the migrations this store has not had; the store's version."""
    try:
        if max(applied(db), default=0) >= LATEST:
            return LATEST
    except db.errors:
        pass  # no dome_schema yet: created below, under the lock
    with db.write(MIGRATION_LOCK):
        db.execute(
            "CREATE TABLE IF NOT EXISTS dome_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = applied(db)
        for version, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                db.execute(statement.replace("{key}", db.auto_key))
            db.execute("INSERT INTO dome_schema (version, applied_at) VALUES (?, ?)", (version, now))
        return max(applied(db), default=0)
