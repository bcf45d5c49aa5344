"""Session facts: what happens to a gated session beyond its tests' outcomes.

:class:`SessionWatch` records interrupts (Ctrl-C, and SIGTERM, what CI sends on
cancel), internal errors and collection errors; :class:`XdistHooks` (registered
only when pytest-xdist is installed) hands the workers their settings and
records what they send back: the plan, crashes, redaction counts.
"""

from __future__ import annotations

import signal
from collections import Counter
from types import FrameType
from typing import Any

import pytest

from ..config.settings import Settings
from ..contracts.models import SessionFacts
from ..core.plan import PlannedTask


class SessionWatch:
    """Registered on the deciding process; its counts become the run's SessionFacts."""

    def __init__(self) -> None:
        self.collection_errors = 0
        self.worker_crashes = 0
        self.internal_error = False
        self.keyboard_interrupt = False
        self.worker_redactions: Counter[str] = Counter()
        self.collected_ids: list[str] | None = None
        """Under xdist: the node ids the first worker collected."""
        self.plan_json: bytes | None = None
        """Under xdist: the plan as the first worker to finish sent it (``plans.plan_wire``), until
        the finish parses it (``plans.finished_plan``)."""
        self.plan: tuple[PlannedTask, ...] | None = None
        """Under xdist: that plan, parsed, from the finish until it has decided."""
        self.problems: tuple[str, ...] = ()
        """Bad input found while planning (a packet entry that selects nothing)."""
        self._previous_sigterm: Any = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        try:
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:  # not the main thread
            self._previous_sigterm = None

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt("SIGTERM")

    def restore_signals(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors += 1

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if not isinstance(excinfo.value, pytest.Session.Interrupted):  # not -x / --maxfail
            self.keyboard_interrupt = True

    def pytest_internalerror(self) -> None:
        self.internal_error = True

    def interrupted(self, session: pytest.Session, exitstatus: int) -> bool:
        """The session stopped before its tests were done (and not because its
        collection failed, which has a reason code of its own)."""
        stopped = (
            exitstatus == pytest.ExitCode.INTERRUPTED
            or bool(session.shouldstop)
            or bool(session.shouldfail)
            or self.keyboard_interrupt
        )
        return stopped and not (self.collection_errors and not self.keyboard_interrupt)

    def facts(self, exitstatus: int, interrupted: bool, plan_missing: bool) -> SessionFacts:
        return SessionFacts(
            collection_errors=self.collection_errors,
            interrupted=interrupted,
            worker_crashes=self.worker_crashes,
            internal_error=self.internal_error or exitstatus == pytest.ExitCode.INTERNAL_ERROR,
            plan_missing=plan_missing,
        )


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed (registered conditionally)."""

    def __init__(self, settings: Settings, watch: SessionWatch) -> None:
        self.settings = settings
        self.watch = watch

    def pytest_configure_node(self, node: Any) -> None:
        s = self.settings
        node.workerinput["dome"] = {
            "packet": s.packet_document,
            "max_retries": s.max_retries,
            "shard": [s.shard.index, s.shard.count] if s.shard else None,
            "redact_patterns": [list(p) for p in s.redact_patterns],
            "redact_reports": s.redact_reports,
        }

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.watch.collected_ids is None:
            self.watch.collected_ids = list(ids)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        if error:
            self.watch.worker_crashes += 1
        output = getattr(node, "workeroutput", None) or {}
        self.watch.worker_redactions.update(output.get("dome_redactions", {}))
        # Every worker sends the same plan: keep the first (taken out of the node's
        # output, where xdist keeps it: 7 MiB per worker at 50,000 tasks), parsed at
        # the finish.
        plan = output.pop("dome_plan", None)
        if self.watch.plan_json is None and plan is not None:
            self.watch.plan_json = plan
            self.watch.problems = tuple(output.get("dome_problems", ()))
