"""``--dome-baseline=last-approved[:BRANCH]``: the baseline summary of the last
approved run of a branch, built from the run history store.

The store holds what a baseline summary is made of (``inputs/baseline.summary.json``):
the run's id, status and three digests, and each task's id, node id, outcome,
flakiness and duration. So the summary is built from the store's rows, and the
run folder need not be on this machine (in CI it seldom is): the session records
the summary in its own run folder as for any baseline, and replay decides with
that record, never with the store. What the store holds was verified before it
was recorded (an import) or written by the session that decided the run.

"Last" is the latest start among the decided runs whose decision is APPROVE and
whose recorded branch is BRANCH (the branch a session finds from its CI's
variables or the checkout's ``.git/HEAD``).
"""

from __future__ import annotations

from pathlib import Path

from ..contracts.models import BaselineRun, BaselineSummary, BaselineTask
from .store import HistoryError, Store, open_store
from .url import StoreUrl

PREFIX = "last-approved"


class NoBaseline(ValueError):
    """No approved run to compare with: one line that says why and what to do."""


def parse(source: str) -> tuple[bool, str | None]:
    """Whether ``source`` asks for the last approved run, and the branch it names."""
    if source == PREFIX:
        return True, None
    if source.startswith(PREFIX + ":"):
        branch = source[len(PREFIX) + 1 :]
        if not branch.strip():
            raise NoBaseline(
                f"--dome-baseline={source}: no branch after the colon; give last-approved:BRANCH"
            )
        return True, branch
    return False, None


def last_approved(store: Store, branch: str) -> BaselineSummary | None:
    """The summary of the last approved run of ``branch`` in ``store`` (None: there is none)."""
    rows = store.query(
        "SELECT run_id, decision_digest, input_digest, manifest_digest FROM runs "
        "WHERE state = 'decided' AND decision = 'APPROVE' AND branch = ? "
        "ORDER BY started_at DESC, run_id DESC LIMIT 1",
        (store.redactor.redact(branch),),
    )
    if not rows:
        return None
    run_id, decision_digest, input_digest, manifest_digest = rows[0]
    tasks = tuple(
        BaselineTask.model_validate({k: v for k, v in t._asdict().items() if k != "attempts"})
        for t in store.tasks_of(run_id)
    )
    run = BaselineRun(
        run_id=run_id,
        gate_status="APPROVE",
        decision_digest=decision_digest or "",
        input_digest=input_digest or "",
        manifest_digest=manifest_digest or "",
    )
    return BaselineSummary(baseline=run, tasks=tasks)


def read_last_approved(source: str, url: StoreUrl | None, branch: str | None) -> BaselineSummary:
    """``--dome-baseline=last-approved[:BRANCH]`` answered from the store at ``url``;
    ``branch``: the one the option names, else the session's own. Raises NoBaseline."""
    flag = f"--dome-baseline={source}"
    if url is None:
        raise NoBaseline(f"{flag}: the run history is off; set --dome-history (or history) to the store")
    if branch is None:
        raise NoBaseline(f"{flag}: this checkout's branch is not known (detached HEAD, no CI branch); "
                         "give last-approved:BRANCH")  # fmt: skip
    if url.kind == "sqlite" and not Path(url.target).is_file():
        raise NoBaseline(
            f"{flag}: no history store at {url.target}; record a run first, or give --dome-history"
        )
    try:
        with open_store(url) as store:
            summary = last_approved(store, branch)
    except HistoryError as exc:
        raise NoBaseline(f"{flag}: {exc}") from None
    if summary is None:
        raise NoBaseline(f"{flag}: no approved run of branch {branch!r} in the history store {url.shown}")
    return summary
