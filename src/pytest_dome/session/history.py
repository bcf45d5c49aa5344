"""The session's two writes to the run history: a 'started' row when the run
starts, and the decided run with its task rows at the finish.

Never in the way of the gate: a store that cannot be opened or written (or a bug
here) changes neither the decision, the exit status nor the run folder; the
first failure is kept as one line that the review shows, and after a failed
start the finish does not try again (an unreachable server would cost the
session its connection timeout twice). The run can be recorded later with
``dome history import``. A shard records nothing: its merged run is the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..core.redact import Redactor
    from ..history.store import RunStart, TaskRow
    from ..runfolder.record import RunOutcome


class SessionHistory:
    """The run's history writes; :attr:`problem` is the one line when one failed."""

    def __init__(self, settings: Settings, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor
        self.active = settings.history is not None and settings.shard is None
        self.start: RunStart | None = None
        self.problem: str | None = None

    def started(self, started_at: str, head_commit: str | None) -> None:
        if not self.active:
            return
        try:
            from ..history.records import run_start
            from ..history.store import open_store

            assert self.settings.history is not None
            self.start = run_start(self.settings.run_id, started_at, head_commit, self.settings.rootdir)
            with open_store(self.settings.history, self.redactor) as store:
                store.record_started(self.start)
        except Exception as exc:
            self._failed(exc)

    def abandoned(self) -> None:
        """The run was refused as bad input after it started: no run, no row."""
        if not self.active or self.problem is not None or self.start is None:
            return
        try:
            from ..history.store import open_store

            assert self.settings.history is not None
            with open_store(self.settings.history, self.redactor) as store:
                store.forget_started(self.settings.run_id)
        except Exception as exc:
            self._failed(exc)

    def finished(self, outcome: RunOutcome, rows: Iterable[TaskRow]) -> None:
        if not self.active or self.problem is not None or self.start is None:
            return
        if outcome.gate is None or outcome.promotion is None:
            return
        try:
            from ..history.records import decided
            from ..history.store import open_store

            assert self.settings.history is not None
            run = decided(
                self.start,
                outcome.gate,
                outcome.promotion,
                finished_at=outcome.finished_at,
                exit_status=outcome.exit_status,
                manifest_digest=outcome.manifest_digest,
                source="session",
            )
            with open_store(self.settings.history, self.redactor) as store:
                store.record_finished(run, rows)
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        from ..history.store import HistoryError
        from ..history.url import shown

        if self.problem is not None:
            return
        reason = str(exc) if isinstance(exc, HistoryError) else f"{type(exc).__name__}: {exc}"
        self.problem = self.redactor.redact(shown(reason.splitlines()[0] if reason else type(exc).__name__))

    def warning(self) -> str | None:
        """The review's one line about the history (None: nothing to say)."""
        if self.problem is None:
            return None
        where = self.settings.display_path(self.settings.run_dir)
        return (
            f"dome: run history not recorded ({self.problem}); the run folder is intact: "
            f"record it later with `dome history import {where}`"
        )
