"""The history store's API: open a store, record a run's start and finish, read runs.

Every text that reaches the store passes the redactor it was opened with (the
session's, or one made from the environment and the policy's patterns): node
ids, commit, branch, CI job, host, reason codes. A store that fails raises
:class:`HistoryError`, one line that never shows a URL's password.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from itertools import islice
from typing import Any, Literal, NamedTuple

from ..core.redact import Redactor
from .dialect import Dialect, connect
from .schema import migrate
from .url import StoreUrl, shown

COUNTS = (
    "planned",
    "passed",
    "failed",
    "error",
    "skipped",
    "xfailed",
    "xpassed",
    "missing",
    "flaky",
    "critical_not_passed",
)
"""The task counts of a decided run, as the gate counts them (``gate.checks.tasks``)."""
TASK_COLUMNS = ("run_id", "task_id", "node_id", "outcome", "flaky", "attempts", "duration_s")
"""The columns of the ``tasks`` view (a run's task rows by ids: what readers query)."""
STAGED = TASK_COLUMNS[1:]
"""The columns of a task row as :meth:`Store.write_tasks` takes it."""
DROP_RESULTS = "DELETE FROM results WHERE run_key IN (SELECT run_key FROM runs WHERE run_id = ?)"
Recorded = Literal["inserted", "updated", "unchanged"]


class HistoryError(Exception):
    """The store cannot be opened, read or written: one line, no password."""


class TaskRow(NamedTuple):
    """One task of a decided run."""

    task_id: str
    node_id: str
    """Redacted, as in the run's evidence."""
    outcome: str
    """passed, failed, error, skipped, xfailed, xpassed or missing."""
    flaky: bool
    """It passed only on a retry."""
    attempts: int
    duration_s: float


@dataclass(frozen=True)
class RunStart:
    """What a run is known by when it starts."""

    run_id: str
    started_at: str
    commit_sha: str | None = None
    branch: str | None = None
    ci_job: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class RunFinish(RunStart):
    """A decided run: its start, decision, promotion and counts."""

    finished_at: str = ""
    decision: str = ""
    """The gate status: APPROVE, NEEDS_HUMAN or REJECT."""
    promotion: str = ""
    """The promotion action: promote or hold."""
    reason_codes: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    exit_status: int = 0
    risk_score: float = 0.0
    input_digest: str = ""
    decision_digest: str = ""
    manifest_digest: str = ""
    source: Literal["session", "import"] = "session"

    @property
    def duration_s(self) -> float:
        return round(max(0.0, (_time(self.finished_at) - _time(self.started_at)).total_seconds()), 6)


@dataclass(frozen=True)
class RunRow:
    """A row of ``runs``: a run as the store holds it (``state`` 'started' or
    'decided'; a started run has no decision, counts or digests)."""

    run_id: str
    state: str
    started_at: str
    finished_at: str | None
    commit_sha: str | None
    branch: str | None
    ci_job: str | None
    host: str | None
    decision: str | None
    promotion: str | None
    reason_codes: tuple[str, ...]
    counts: dict[str, int]
    exit_status: int | None
    risk_score: float | None
    duration_s: float | None
    input_digest: str | None
    decision_digest: str | None
    manifest_digest: str | None
    source: str
    recorded_at: str

    def as_json(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        return doc | {"reason_codes": list(self.reason_codes)}


RUN_COLUMNS = (
    "run_id",
    "state",
    "started_at",
    "finished_at",
    "commit_sha",
    "branch",
    "ci_job",
    "host",
    "decision",
    "promotion",
    "reason_codes",
    *COUNTS,
    "exit_status",
    "risk_score",
    "duration_s",
    "input_digest",
    "decision_digest",
    "manifest_digest",
    "source",
    "recorded_at",
)


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row(values: Sequence[Any]) -> RunRow:
    v = dict(zip(RUN_COLUMNS, values, strict=True))
    counts = {name: v.pop(name) for name in COUNTS}
    codes = v.pop("reason_codes")
    return RunRow(
        **v,
        reason_codes=tuple(json.loads(codes)) if codes else (),
        counts={k: int(n) for k, n in counts.items() if n is not None},
    )


KEPT = ("commit_sha", "branch", "ci_job", "host")
"""Where a run ran: a finish that does not know (an import) keeps what its start said."""


def _upsert(columns: Sequence[str], keep: Sequence[str] = ()) -> str:
    update = ", ".join(
        f"{c} = COALESCE(excluded.{c}, runs.{c})" if c in keep else f"{c} = excluded.{c}"
        for c in columns
        if c != "run_id"
    )
    return (
        f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT (run_id) DO UPDATE SET {update}"
    )


BATCH = 2000
"""Node ids checked for secrets at once (``Redactor.finds_nothing``)."""


def failure(url: StoreUrl, doing: str, exc: BaseException) -> HistoryError:
    """The one line for a store that failed: what, where (no password), why."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return HistoryError(shown(f"cannot {doing} the history store {url.shown}: {reason}"))


class Store:
    """An open store (use :func:`open_store`); a context manager that closes it."""

    def __init__(self, db: Dialect, url: StoreUrl, redactor: Redactor) -> None:
        self.db = db
        self.url = url
        self.redactor = redactor

    @property
    def kind(self) -> str:
        return self.db.name

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.db.close()
        except self.db.errors:
            pass

    def _failed(self, doing: str, exc: BaseException) -> HistoryError:
        return failure(self.url, f"{doing} in", exc)

    def _text(self, value: str | None) -> str | None:
        return None if value is None else self.redactor.redact(value)

    def _start_values(self, run: RunStart) -> list[Any]:
        return [
            run.run_id,
            run.started_at,
            self._text(run.commit_sha),
            self._text(run.branch),
            self._text(run.ci_job),
            self._text(run.host),
        ]

    def record_started(self, run: RunStart, source: str = "session") -> None:
        """A run has started: its row is 'started' (a run id seen before starts
        again: its decision and tasks are cleared). A run that never finishes stays so."""
        columns = [*RUN_COLUMNS[:3], *RUN_COLUMNS[4:8], "source", "recorded_at"]
        cleared = [c for c in RUN_COLUMNS if c not in columns and c != "state"]
        values = [run.run_id, "started", *self._start_values(run)[1:], source, utc_now()]
        sql = _upsert(columns) + "".join(f", {c} = NULL" for c in cleared)
        try:
            with self.db.write(f"run:{run.run_id}"):
                self.db.execute(sql, values)
                self.db.execute(DROP_RESULTS, (run.run_id,))
        except self.db.errors as exc:
            raise self._failed(f"record the start of run {run.run_id}", exc) from None

    def forget_started(self, run_id: str) -> None:
        """A run that was refused as bad input once it had started (a packet that
        selects nothing): its 'started' row goes, as its run folder does."""
        try:
            with self.db.write(f"run:{run_id}"):
                self.db.execute("DELETE FROM runs WHERE run_id = ? AND state = 'started'", (run_id,))
        except self.db.errors as exc:
            raise self._failed(f"forget run {run_id}", exc) from None

    def record_finished(self, run: RunFinish, tasks: Iterable[TaskRow]) -> Recorded:
        """A decided run and one row per task, in one transaction. The same run again
        (same manifest digest) changes nothing; a replaced run (another digest)
        updates its row and replaces its task rows."""
        values = [
            run.run_id,
            "decided",
            *self._start_values(run)[1:2],
            run.finished_at,
            *self._start_values(run)[2:],
            run.decision,
            run.promotion,
            json.dumps([self.redactor.redact(c) for c in run.reason_codes]),
            *(int(run.counts.get(name, 0)) for name in COUNTS),
            run.exit_status,
            run.risk_score,
            run.duration_s,
            run.input_digest,
            run.decision_digest,
            run.manifest_digest,
            run.source,
            utc_now(),
        ]
        try:
            with self.db.write(f"run:{run.run_id}"):
                before = self.db.execute(
                    "SELECT state, manifest_digest FROM runs WHERE run_id = ?", (run.run_id,)
                )
                if before and before[0] == ("decided", run.manifest_digest):
                    return "unchanged"
                self.db.execute(_upsert(RUN_COLUMNS, KEPT), values)
                if before:
                    self.db.execute(DROP_RESULTS, (run.run_id,))
                self.write_tasks(run.run_id, self._task_rows(tasks))
        except self.db.errors as exc:
            raise self._failed(f"record run {run.run_id}", exc) from None
        return "updated" if before else "inserted"

    def write_tasks(self, run_id: str, rows: Iterable[Sequence[Any]]) -> None:
        """Add a run's task rows (``STAGED`` columns, texts as given), inside a write
        transaction of the run: each test's ids once in ``tests``, the run's results
        as integer keys. Staged in a temporary table and joined in the database:
        one bulk insert (COPY on PostgreSQL), no id looked up from Python."""
        self.db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS dome_staging (task_id TEXT, node_id TEXT, outcome TEXT, "
            "flaky INTEGER, attempts INTEGER, duration_s DOUBLE PRECISION)"
        )
        self.db.execute("DELETE FROM dome_staging")
        self.db.insert_many("dome_staging", STAGED, rows)
        self.db.execute(  # in id order: concurrent runs meet shared tests in one order
            "INSERT INTO tests (task_id, node_id) SELECT task_id, node_id FROM dome_staging "
            "WHERE true ORDER BY task_id, node_id ON CONFLICT (task_id, node_id) DO NOTHING"
        )
        self.db.execute(
            "INSERT INTO results (run_key, test_key, outcome, flaky, attempts, duration_s) "
            "SELECT r.run_key, t.test_key, s.outcome, s.flaky, s.attempts, s.duration_s "
            "FROM dome_staging s JOIN tests t ON t.task_id = s.task_id AND t.node_id = s.node_id "
            "JOIN runs r ON r.run_id = ?",
            (run_id,),
        )
        self.db.execute("DELETE FROM dome_staging")

    def _task_rows(self, tasks: Iterable[TaskRow]) -> Iterator[tuple[Any, ...]]:
        """The rows to insert, node ids redacted (a batch in which the redactor finds
        nothing passes as it is: one search instead of one redaction a row)."""
        it = iter(tasks)
        redact = self.redactor.redact
        while batch := list(islice(it, BATCH)):
            clean = self.redactor.finds_nothing(t.node_id for t in batch)
            for t in batch:
                node_id = t.node_id if clean else redact(t.node_id)
                yield (t.task_id, node_id, t.outcome, int(t.flaky), t.attempts, t.duration_s)

    # --- reading ------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of any read, written with ``?`` placeholders (both dialects)."""
        try:
            return self.db.execute(sql, params)
        except self.db.errors as exc:
            raise self._failed("read", exc) from None

    def list_runs(
        self,
        *,
        branch: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = 50,
    ) -> list[RunRow]:
        """Runs, newest start first: on ``branch``, started at or after ``since`` and
        before ``until`` (ISO 8601 text, UTC; a date alone is its midnight)."""
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (("branch = ?", branch), ("started_at >= ?", since), ("started_at < ?", until)):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
        sql += f" WHERE {' AND '.join(where)}" if where else ""
        sql += " ORDER BY started_at DESC, run_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_row(r) for r in self.query(sql, params)]

    def get_run(self, run_id: str) -> RunRow | None:
        rows = self.query(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,))
        return _row(rows[0]) if rows else None

    def tasks_of(self, run_id: str) -> list[TaskRow]:
        """A run's task rows, by task id."""
        rows = self.query(
            f"SELECT {', '.join(TASK_COLUMNS[1:])} FROM tasks WHERE run_id = ? ORDER BY task_id", (run_id,)
        )
        return [TaskRow(t, n, o, bool(f), int(a), float(d)) for t, n, o, f, a, d in rows]


def open_store(url: StoreUrl, redactor: Redactor | None = None) -> Store:
    """The store at ``url``, its schema brought up to date. ``redactor``: what every
    text written passes (default: one made from the environment)."""
    try:
        db = connect(url)
    except ImportError:
        raise HistoryError(
            f"cannot open the history store {url.shown}: psycopg is not installed; "
            "pip install 'pytest-dome[postgres]'"
        ) from None
    except Exception as exc:  # the driver's errors: its module may not be importable here
        raise failure(url, "open", exc) from None
    store = Store(db, url, redactor if redactor is not None else Redactor())
    try:
        migrate(db, utc_now())
    except db.errors as exc:
        store.close()
        raise failure(url, "bring the schema up to date in", exc) from None
    return store
