"""``dome slo --history URL``: the four SLOs for a calendar month over the run
history store, in the shape of ``dome slo``'s report over a runtime folder
(report/slo.py: its targets, titles and lines).

What the store can prove, and what it cannot:

- SLO-1 availability (runs with a terminal decision / runs started): fully. Every
  gated session writes a 'started' row before it runs a test; a session killed
  before its finish (SIGKILL, a lost CI machine) leaves that row 'started' for
  ever, and it counts against SLO-1 here. A run still going when the report is
  made counts as not decided too: report a month once it is over.
- SLO-2 determinism (replayed runs with the same status): not from the store. The
  store holds a decision's digests, not its evidence: nothing can be replayed. The
  value is left unknown (``met: null``); ``dome replay --all RUNTIME_DIR`` over
  the run folders gives it.
- SLO-3 evidence completeness (approved runs whose evidence verifies): a lower
  bound. An imported run (``source = 'import'``) was verified before it was
  recorded (``dome history import`` refuses evidence that does not verify); a
  run the session recorded was written by dome but not verified again. The value
  is the share of approved runs verified at import: met when that is already the
  target, unknown (``met: null``) otherwise, never missed on the store's word.
- SLO-4 safety (secrets found + path escapes, must be 0): over the store's own
  texts only (node ids, commits, branches, CI jobs, hosts, reason codes of the
  month's runs), scanned with the redactor's patterns as the run folders are. The
  run folders' files and paths are not in the store: ``dome slo RUNTIME_DIR``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from ..core.redact import Redactor
from ..history.store import Store
from .slo import TARGETS, _slo

NOTES = {
    "SLO-1": "every run that wrote its start to the store; a run never decided (killed) counts against it",
    "SLO-2": "not provable from the store (no evidence to replay): run `dome replay --all RUNTIME_DIR`",
    "SLO-3": "lower bound: approved runs verified when imported / approved runs; "
    "runs recorded by the session were not verified again",
    "SLO-4": "the store's own texts only; the run folders' files: `dome slo RUNTIME_DIR`",
}


def month_bounds(month: str) -> tuple[str, str]:
    """The first day of ``month`` (YYYY-MM) and of the next, as ISO dates."""
    first = date.fromisoformat(f"{month}-01")
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first.isoformat(), after.isoformat()


BATCH = 2000


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _secrets(store: Store, since: str, until: str, redactor: Redactor) -> tuple[int, list[str]]:
    """Secrets in the month's texts of the store, and the runs whose own columns hold one."""
    month = "SELECT run_id FROM runs WHERE started_at >= ? AND started_at < ?"
    found, runs = 0, []
    for row in store.query(
        "SELECT run_id, commit_sha, branch, ci_job, host, reason_codes FROM runs "
        "WHERE started_at >= ? AND started_at < ? ORDER BY run_id",
        (since, until),
    ):
        before = sum(redactor.counts.values())
        for text in row[1:]:
            if text:
                redactor.redact(str(text))
        if sum(redactor.counts.values()) > before:
            found += sum(redactor.counts.values()) - before
            runs.append(row[0])
    nodes = (
        n
        for (n,) in store.query(
            f"SELECT DISTINCT node_id FROM tasks WHERE run_id IN ({month})", (since, until)
        )
    )
    for batch in _batches(nodes):
        if not redactor.finds_nothing(batch):
            before = sum(redactor.counts.values())
            for node in batch:
                redactor.redact(node)
            found += sum(redactor.counts.values()) - before
    return found, runs


def _unknown(s: dict[str, Any]) -> dict[str, Any]:
    return s | {"value": None, "met": None}


def compute_store(store: Store, month: str) -> dict[str, Any]:
    """The month's SLO report from the store (``month`` already checked: YYYY-MM)."""
    since, until = month_bounds(month)
    rows = store.query(
        "SELECT run_id, state, decision, source, started_at FROM runs "
        "WHERE started_at >= ? AND started_at < ? ORDER BY started_at, run_id",
        (since, until),
    )
    decided = [r for r in rows if r[1] == "decided"]
    approved = [r for r in decided if r[2] == "APPROVE"]
    verified = [r for r in approved if r[3] == "import"]
    redactor = Redactor()
    secrets, leaking = _secrets(store, since, until, redactor)

    slo1 = _slo(
        "SLO-1",
        "availability: runs with a terminal gate decision / runs started",
        len(decided),
        len(rows),
        [r[0] for r in rows if r[1] != "decided"],
    )
    slo2 = _unknown(
        _slo("SLO-2", "determinism: replayed runs with the same gate status / replayed runs", 0, 0, [])
    ) | {"counted": len(decided), "good": None}
    slo3 = _slo(
        "SLO-3",
        "evidence completeness: approved runs that verify / approved runs",
        len(verified),
        len(approved),
        [],
    )
    if slo3["value"] is not None and slo3["value"] < TARGETS["SLO-3"]:
        slo3["met"] = None  # a lower bound under the target proves nothing either way
    slo3["not_verified_runs"] = [r[0] for r in approved if r[3] != "import"]
    slo4 = {
        "slo": "SLO-4",
        "title": "safety: secrets found in the store's texts (must be 0)",
        "target": 0,
        "value": secrets,
        "counted": len(rows),
        "good": len(rows) - len(leaking),
        "met": secrets == 0,
        "missed_runs": leaking,
        "by_kind": dict(sorted(redactor.counts.items())),
    }
    slos = [slo1, slo2, slo3, slo4]
    for s in slos:
        s["store_note"] = NOTES[s["slo"]]
    daily: dict[str, dict[str, float]] = {"SLO-1": {}, "SLO-2": {}, "SLO-3": {}, "SLO-4": {}}
    for day in sorted({r[4][:10] for r in rows}):
        on = [r for r in rows if r[4][:10] == day]
        daily["SLO-1"][day] = round(sum(r[1] == "decided" for r in on) / len(on), 6)
    return {
        "kind": "slo.report",
        "month": month,
        "runtime_dir": store.url.shown,
        "history": store.url.shown,
        "runs": len(rows),
        "met": all(s["met"] is not False for s in slos),
        "slos": slos,
        "daily": daily,
    }
