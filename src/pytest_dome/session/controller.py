"""The deciding side of a gated run (the xdist controller, or the one serial process).

Ties the roles together: the change set (``changes.py``, at configure), report
intake (``intake.py``) while the tests run, session facts (``facts.py``), and at
the session's finish the plan (``plans.py``) and the plugins' risk factors
(``plugin_hooks.py``), handed with everything else to the finish
(``finish.write_session_run``, a plain function). The review is shown by
``terminal.GateReporter``. Whatever goes wrong, the run ends with a decision.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from pathlib import Path

import pytest

from ..config.settings import Settings
from ..contracts.models import EffectiveConfig, Execution
from ..core.redact import Redactor
from ..runfolder.lifecycle import abandon_run_dir, drop_replaced, release_lock
from ..runfolder.record import RunOutcome
from ..runfolder.speedups import gc_paused
from ..runfolder.writer import EvidenceError
from . import plans, plugin_hooks
from .changes import session_change_set
from .facts import SessionWatch
from .finish import SessionEnd, history_rows, write_session_run
from .history import SessionHistory
from .intake import ReportIntake
from .runner import TaskRunner


def _describe(exc: Exception, settings: Settings) -> str:
    """One line for what stopped the evidence from being written."""
    if isinstance(exc, OSError) and not isinstance(exc, EvidenceError):
        return (
            f"cannot write the evidence in {settings.display_path(settings.run_dir)}: "
            f"{exc.strerror or exc}; free space or fix permissions and run again"
        )
    return f"internal error in pytest-dome: {type(exc).__name__}: {exc}"


class DomeController:
    """Decides at the session's finish; holds the roles of the deciding process."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        replaced: Path | None,
        runner: TaskRunner | None,
        lock: Path,
        started_at: str,
    ) -> None:
        self.config = config
        self.settings = settings
        self.replaced = replaced
        self.runner = runner  # the serial process's own task runner; None under xdist
        self.lock = lock
        self.started_at = started_at
        self.redactor = Redactor(extra_patterns=settings.redact_patterns)
        self.change_set = session_change_set(settings, self.redactor)
        self.history = SessionHistory(settings, self.redactor)
        self.history.started(started_at, self.change_set.head_commit)
        self.watch = SessionWatch()
        self.intake = ReportIntake(settings, self.redactor, runner)
        self.outcome: RunOutcome | None = None
        self.failure: str | None = None
        self.usage_error: str | None = None

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.watch.restore_signals()
        problems = self.runner.problems if self.runner is not None else self.watch.problems
        if problems:
            self._abort_bad_input(session, problems[0])
            return
        if exitstatus == pytest.ExitCode.USAGE_ERROR:  # pytest refused its command line (a path
            # that does not exist) and said so in its own line: bad input, not a run
            self.usage_error = "pytest refused the command line"
            self.intake.files.abandon()
            abandon_run_dir(self.settings.run_dir, self.replaced)
            self.history.abandoned()
            return
        interrupted = self.watch.interrupted(session, exitstatus)
        if self.settings.shard is not None and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            exitstatus = pytest.ExitCode.OK  # dome's sharding left this shard no task
        self._finish(int(exitstatus), interrupted)
        if self.outcome is not None:
            session.exitstatus = self.outcome.exit_status
        else:
            session.exitstatus = max(int(exitstatus), int(pytest.ExitCode.INTERNAL_ERROR))

    def _abort_bad_input(self, session: pytest.Session, problem: str) -> None:
        """A packet that selects nothing (found while collecting): one line, exit 4,
        no run folder left behind."""
        source = self.settings.packet_source
        self.usage_error = f"packet {source}: {problem}" if source else problem
        sys.stderr.write(f"ERROR: {self.usage_error}\n")
        self.intake.files.abandon()
        abandon_run_dir(self.settings.run_dir, self.replaced)
        self.history.abandoned()
        session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def finish_without_session(self) -> bool:
        """Fallback for a session that never reached its finish (a broken start):
        the run still ends with a terminal decision. True when it decided now
        (pytest's terminal summary has passed: the caller shows the review)."""
        if self.outcome is not None or self.failure is not None or self.usage_error:
            return False
        self.watch.internal_error = True
        self._finish(int(pytest.ExitCode.INTERNAL_ERROR), interrupted=False)
        return True

    def _session_end(self, exitstatus: int, interrupted: bool, safe: bool = False) -> SessionEnd:
        """What the finish decides from. ``safe`` (the fallback after a failure):
        every part that could fail again gives way (no plan: flagged missing; no
        written results; no plugin factors), so the run still ends decided."""
        try:
            own = self.runner.take_plan() if self.runner is not None else None
            tasks, plan_missing = plans.finished_plan(own, self.watch, self.redactor)
        except Exception:
            if not safe:
                raise
            tasks, plan_missing = (), True
        try:
            written = self.intake.files.finish()
        except Exception:
            if not safe:
                raise
            written = {}
        finally:
            self.intake.files.abandon()  # finished, or failed: the helper is gone either way
        return SessionEnd(
            settings=self.settings,
            tasks=tasks,
            change_set=self.change_set,
            redactor=self.redactor,
            aggregator=self.intake.aggregator,
            written=written,
            facts=self.watch.facts(exitstatus, interrupted, plan_missing),
            run_verify=not self.watch.keyboard_interrupt,
            plugin_factors=None if safe else plugin_hooks.risk_factors(self.config),
            rewrite=frozenset(self.intake.rewrite),
            started_at=self.started_at,
            execution=self._execution(),
            effective_config=self._effective_config(),
            exit_status=exitstatus,
            redactions=self._redactions(),
        )

    def _finish(self, exitstatus: int, interrupted: bool) -> None:
        """Decide and write the evidence; raises nothing but an interrupt (other
        plugins must still run; a second Ctrl-C during the finish is tried again at
        unconfigure, from the same plan).

        A bug in dome (or a plugin hook) is caught here and the run still ends
        with a decision: REJECT with INTERNAL_ERROR, made from the plan and the
        session facts alone. Only a disk that cannot be written ends without
        one, said in one line.
        """
        end: SessionEnd | None = None
        try:
            with gc_paused():
                end = self._session_end(exitstatus, interrupted)
                self.outcome = write_session_run(end)
                self.history.finished(self.outcome, history_rows(end))
        except Exception as first:
            self.watch.internal_error = True
            self.failure = _describe(first, self.settings)
            try:
                if end is None:
                    end = self._session_end(exitstatus, interrupted, safe=True)
                facts = end.facts.model_copy(update={"internal_error": True})
                # pytest's status for an internal error (its INTERNALERROR): a job can
                # tell "the gate broke" (3) from "the tests failed" (1).
                status = max(end.exit_status, int(pytest.ExitCode.INTERNAL_ERROR))
                end = dataclasses.replace(end, facts=facts, exit_status=status)
                self.outcome = write_session_run(end, fallback=True)
                self.history.finished(self.outcome, history_rows(end, fallback=True))
            except Exception as second:
                self.failure = _describe(second, self.settings)
                return
        finally:
            del end
            if self.outcome is not None or self.failure is not None:
                # decided (or never will be): let the plan go
                if self.runner is not None:
                    self.runner.drop_plan()
                self.watch.plan = None
        drop_replaced(self.replaced)
        self.failure = plugin_hooks.gate_decided(self.config, self.outcome) or self.failure

    def _redactions(self) -> dict[str, int]:
        counts = Counter(self.redactor.counts)
        counts.update(self.watch.worker_redactions)
        if self.runner is not None:
            counts.update(self.runner.redactor.counts)
        return dict(counts)

    def close(self) -> None:
        release_lock(self.lock)

    def _execution(self) -> Execution:
        if self.config.pluginmanager.has_plugin("dsession"):
            return Execution(mode="xdist", workers=len(self.config.getoption("tx") or ()))
        return Execution(mode="serial", workers=1)

    def _effective_config(self) -> EffectiveConfig:
        s = self.settings
        return EffectiveConfig(
            runtime_dir=s.display_path(s.runtime_dir),
            policy_source=s.policy_source,
            threshold_source=s.threshold_source,
            risk_threshold=s.threshold,
            fail_on=s.fail_on,
            verify=tuple(tuple(self.redactor.redact(a) for a in argv) for argv in s.verify),
            verify_timeout_s=s.verify_timeout,
            packet_source=s.packet_source,
            base_ref=s.base_ref and self.redactor.redact(s.base_ref),
            max_workers=s.max_workers,
            max_retries=s.max_retries,
        )
