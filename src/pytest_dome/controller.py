"""The deciding side of a gated run (the xdist controller, or the one serial process).

Aggregates the reports, gets the plan from the collecting processes, and at
session finish runs the verify commands and writes the decision and evidence.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Generator, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from . import changes
from .aggregate import SUMMARY_CHARS, Aggregator, PhaseReport, render_task_result
from .collector import DomeCollector
from .config import Settings
from .evidence import EarlyResults, EvidenceError, abandon_run_dir, collector_paused, release_lock
from .models import (
    EffectiveConfig,
    Execution,
    Phase,
    PluginFactor,
    ResultLike,
    SessionFacts,
    SessionRecord,
    VerifyResults,
)
from .plan import COMMAND_PREFIX, PlannedTask, PlanRecord, in_shard, input_digest
from .redact import Redactor
from .report import markdown, review_lines
from .run import Evidence, RunOutcome, missing_results, result_key, write_run
from .taskid import shown_node_id, task_id_for
from .verify import not_run, run_command

_XDIST_HEADER = re.compile(r"\[gw\d+\] \S+ -- Python ")
"""xdist's first line of a worker's report names the machine's interpreter path."""


def summarize(report: pytest.TestReport, rootdir: Path, redactor: Redactor) -> str | None:
    """A short, redacted account of why a report did not pass."""
    if report.passed and not hasattr(report, "wasxfail"):
        return None
    if report.skipped:
        if hasattr(report, "wasxfail"):
            text = f"xfail: {report.wasxfail}".rstrip(": ")
        elif isinstance(report.longrepr, tuple):
            text = "skipped: " + str(report.longrepr[2]).removeprefix("Skipped: ")
        else:
            text = "skipped"
    elif report.passed:
        text = f"xpassed: {report.wasxfail}".rstrip(": ")
    else:
        crash = getattr(report.longrepr, "reprcrash", None)
        if crash is not None:
            path = Path(crash.path)
            try:
                shown = path.relative_to(rootdir).as_posix()
            except ValueError:
                shown = path.name
            text = f"{shown}:{crash.lineno}: {crash.message}"
        else:  # a worker crash, a command task or a plugin's plain-text report
            lines = [
                line
                for line in report.longreprtext.splitlines()
                if line.strip() and not _XDIST_HEADER.match(line)
            ]
            text = "\n".join(lines[-3:])
    return redactor.redact(text)[:SUMMARY_CHARS] or None


def _describe(exc: Exception, settings: Settings) -> str:
    """One line for what stopped the evidence from being written."""
    if isinstance(exc, OSError) and not isinstance(exc, EvidenceError):
        return (
            f"cannot write the evidence in {settings.display_path(settings.run_dir)}: "
            f"{exc.strerror or exc}; free space or fix permissions and run again"
        )
    return f"internal error in pytest-dome: {type(exc).__name__}: {exc}"


def parse_plan(text: str, collected_ids: Iterable[str]) -> tuple[PlannedTask, ...]:
    """A plan a worker sent (``DomeCollector.pytest_sessionfinish``). Parsed JSON has a
    string per value: share the collected node ids' and the repeated kinds and
    weights (a 50,000-task plan: about 5 MiB less)."""
    same: dict[Any, Any] = {i: i for i in collected_ids}
    return tuple(
        PlannedTask(
            task_id,
            same.setdefault(kind, kind),
            same.get(node_id, node_id),
            entry,
            critical,
            same.setdefault(weight, weight),
        )
        for task_id, kind, node_id, entry, critical, weight in json.loads(text)
    )


class DomeController:
    """Aggregates reports and writes the decision."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        replaced: Path | None,
        collector: DomeCollector | None,
        lock: Path,
        started_at: str,
    ) -> None:
        self.config = config
        self.settings = settings
        self.replaced = replaced
        self.collector = collector  # the serial process's own collector; None under xdist
        self.lock = lock
        self.started_at = started_at
        self.redactor = Redactor(extra_patterns=settings.redact_patterns)
        self.worker_redactions: Counter[str] = Counter()
        self._shown_ids: dict[str, str] = {}
        self.aggregator = Aggregator(settings.run_id, on_final=self._on_final)
        self.early = EarlyResults(settings.run_dir)
        self._task_of: dict[str, str] | None = None
        self._hint: str | None = None
        change_set = changes.resolve_change_set(
            settings.base_ref, settings.rootdir, settings.policy.change_set.sensitive_globs
        )
        self.change_set = change_set.model_copy(
            update={
                "detail": change_set.detail and self.redactor.redact(change_set.detail),
                "base_ref": change_set.base_ref and self.redactor.redact(change_set.base_ref),
            }
        )
        self.plan_json: str | None = None
        """Under xdist: the plan as the first worker to finish sent it (JSON). The
        plan is made when the run is written, and let go after it (see ``_plan``)."""
        self.problems: tuple[str, ...] = ()
        self.collected_ids: list[str] | None = None
        self.collection_errors = 0
        self.worker_crashes = 0
        self.internal_error = False
        self.keyboard_interrupt = False
        self.outcome: RunOutcome | None = None
        self.failure: str | None = None
        self.usage_error: str | None = None
        self._previous_sigterm: Any = None
        self._collector_paused = False
        # Pushed before pytest's unraisable-exception cleanup (our configure runs
        # first), so popped after it: after the collections pytest runs at exit.
        config.add_cleanup(self._resume_collector)

    # --- session start: SIGTERM (what CI sends on cancel) is an interrupt ------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        try:
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:  # not the main thread
            self._previous_sigterm = None

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt("SIGTERM")

    # --- collection -------------------------------------------------------

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors += 1

    # --- reports ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # First of all reporters: the node id as the plan has it, so a secret in a
        # test id reaches neither the terminal nor junitxml (xdist's worker-side
        # check of node ids has run already).
        shown = self._shown_ids.get(report.nodeid)
        if shown is None and self.collector is not None and self.collector.ids_clean:
            if report.nodeid in self.collector.task_of:  # collected here, checked clean at once
                shown = report.nodeid
        if shown is None:  # once per node id, not once per phase report
            if len(self._shown_ids) >= 512:  # a test's reports come together: keep the recent ones
                self._shown_ids.clear()
            shown = self._shown_ids[report.nodeid] = shown_node_id(report.nodeid, self.redactor)
        if shown != report.nodeid:  # the failure header is drawn from the location
            path, lineno, domain = report.location
            report.location = (path, lineno, self.redactor.redact(domain))
        report.nodeid = shown
        when: Phase = "crash" if str(report.when) == "???" else report.when
        when = getattr(report, "dome_when", when)  # a retried teardown, logged as "call"
        node = getattr(report, "node", None)  # the xdist worker, on the controller
        self._hint = report.__dict__.pop("dome_task", None)  # the plan's task id, for _on_final
        self.aggregator.add(
            PhaseReport(
                node_id=report.nodeid,
                when=when,
                outcome=report.outcome,
                wasxfail=hasattr(report, "wasxfail"),
                duration=report.duration,
                worker=node.gateway.id if node is not None else None,
                summary=summarize(report, self.settings.rootdir, self.redactor),
                subtest=type(report).__name__ == "SubtestReport",
            )
        )

    # --- incidents ----------------------------------------------------------

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if not isinstance(excinfo.value, pytest.Session.Interrupted):
            self.keyboard_interrupt = True

    def pytest_internalerror(self) -> None:
        self.internal_error = True

    # --- the decision ---------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_pause_collector(self) -> Generator[None, None, None]:
        """No automatic garbage collection from the session's finish to pytest's own
        at exit (five full ones, in its unraisable-exception cleanup; the collector
        is resumed after them, see ``__init__``). The finish makes tens of thousands
        of objects, and a full collection they bring on scans the whole session
        again for nothing: bare pytest ends before the one it has due comes, dome
        brought it on (5,000 tests: about 0.1 s, serially or under xdist, whose
        teardown of the workers comes first)."""
        if gc.isenabled():
            gc.disable()
            self._collector_paused = True
        return (yield)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if self.collector is not None:
            self.problems = self.collector.problems
        if self.problems:
            self._abort_bad_input(session)
            return
        interrupted = (
            exitstatus == pytest.ExitCode.INTERRUPTED
            or bool(session.shouldstop)
            or bool(session.shouldfail)
            or self.keyboard_interrupt
        ) and not (self.collection_errors and not self.keyboard_interrupt)
        if self.settings.shard is not None and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            exitstatus = pytest.ExitCode.OK  # dome's sharding left this shard no task
        self._finish(int(exitstatus), interrupted)
        if self.outcome is not None:
            session.exitstatus = self.outcome.exit_status
        else:
            session.exitstatus = max(int(exitstatus), int(pytest.ExitCode.INTERNAL_ERROR))

    def _abort_bad_input(self, session: pytest.Session) -> None:
        """A packet that selects nothing (found while collecting): one line, exit 4,
        no run folder left behind."""
        source = self.settings.packet_source
        self.usage_error = f"packet {source}: {self.problems[0]}" if source else self.problems[0]
        sys.stderr.write(f"ERROR: {self.usage_error}\n")
        self.early.abandon()
        abandon_run_dir(self.settings.run_dir, self.replaced)
        session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def finish_without_session(self) -> None:
        """Fallback for a session that never reached its finish (a broken start):
        the run still ends with a terminal decision."""
        if self.outcome is not None or self.failure is not None or self.usage_error:
            return
        self.internal_error = True
        self._finish(int(pytest.ExitCode.INTERNAL_ERROR), interrupted=False)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            self.pytest_terminal_summary(reporter)

    def _plan(self) -> tuple[tuple[PlannedTask, ...], bool]:
        """The plan from the collecting side, or (when every worker crashed before
        it could send one) a fallback from the collected ids, flagged as missing.

        Made on each call, from the collector's plain tuples or the worker's JSON:
        a plan kept after the run is written is 50,000 more objects for each of
        pytest's full collections at exit to scan."""
        plan = self.collector.plan if self.collector is not None else None
        if plan is not None:
            return plan, False
        if self.plan_json is not None:
            return parse_plan(self.plan_json, self.collected_ids or ()), False
        ids = [shown_node_id(i, self.redactor) for i in self.collected_ids or []]
        fallback = tuple(
            sorted(
                (
                    PlannedTask(
                        task_id=task_id_for(i),
                        kind="test",
                        node_id=i,
                        entry=None,
                        critical=False,
                        risk_weight=0.0,
                    )
                    for i in ids
                ),
                key=lambda t: t.task_id,
            )
        )
        return fallback, True

    def _plugin_factors(self, results: Any) -> tuple[PluginFactor, ...]:
        factors = []
        for returned in self.config.hook.pytest_dome_risk_factors(config=self.config, results=tuple(results)):
            for raw in returned or ():
                factors.append(PluginFactor.model_validate(raw))
        names = [f.name for f in factors]
        if len(set(names)) != len(names):
            raise ValueError(f"pytest_dome_risk_factors hooks returned a factor name twice: {names}")
        return tuple(sorted(factors, key=lambda f: f.name))

    def _finish(self, exitstatus: int, interrupted: bool) -> None:
        """Decide and write the evidence; never raises (other plugins must still run).

        A bug in dome (or a plugin hook) is caught here and the run still ends
        with a decision: REJECT with INTERNAL_ERROR. Only a disk that cannot be
        written ends without one, said in one line.
        """
        try:
            with collector_paused():
                self.outcome = self._write(exitstatus, interrupted, fallback=False)
        except Exception as first:
            self.internal_error = True
            self.failure = _describe(first, self.settings)
            try:
                self.outcome = self._write(exitstatus, interrupted, fallback=True)
            except Exception as second:
                self.failure = _describe(second, self.settings)
                return
        if self.replaced is not None:
            shutil.rmtree(self.replaced, ignore_errors=True)
        if self.outcome.gate is not None and self.outcome.promotion is not None:
            try:
                self.config.hook.pytest_dome_gate_decided(
                    config=self.config, gate=self.outcome.gate, promotion=self.outcome.promotion
                )
            except Exception as exc:  # the decision is written; say what the hook did
                self.failure = f"a pytest_dome_gate_decided hook failed: {type(exc).__name__}: {exc}"

    def _write(self, exitstatus: int, interrupted: bool, fallback: bool) -> RunOutcome:
        s = self.settings
        tasks, plan_missing = self._plan()
        packet_document = self.redactor.redact_value(s.packet_document)  # as it is written
        plan = PlanRecord(
            packet_id=s.packet.packet_id if s.packet else None,
            input_digest=input_digest(packet_document, self.change_set, s.policy, tasks),
            tasks=tasks,
        )
        shard = s.shard
        mine = [t for t in tasks if in_shard(t.task_id, shard.index, shard.count)] if shard else tasks
        results: tuple[ResultLike, ...] = ()
        if not fallback:
            results = tuple(self.aggregator.results((t.node_id, t.task_id) for t in mine))
        plugin_factors = () if fallback else self._plugin_factors(results)
        facts = SessionFacts(
            collection_errors=self.collection_errors,
            interrupted=interrupted,
            worker_crashes=self.worker_crashes,
            internal_error=self.internal_error or exitstatus == pytest.ExitCode.INTERNAL_ERROR,
            plan_missing=plan_missing,
        )
        run_verify = (s.shard is None or s.shard.index == 1) and not fallback
        commands = tuple(
            run_command(argv, s.rootdir, s.verify_timeout, self.redactor)
            if run_verify and not self.keyboard_interrupt
            else not_run(argv, self.redactor)
            for argv in s.verify
            if s.shard is None or s.shard.index == 1
        )
        evidence = Evidence(
            run_id=s.run_id,
            plan=plan,
            change_set=self.change_set,
            packet_document=packet_document,
            policy=s.policy,
            results=results,
            verify=VerifyResults(run_id=s.run_id, timeout_s=s.verify_timeout, commands=commands),
            session=SessionRecord(run_id=s.run_id, facts=facts, plugin_factors=plugin_factors),
        )
        return write_run(
            s.run_dir,
            evidence,
            started_at=self.started_at,
            execution=self._execution(),
            config=self._effective_config(),
            exit_status=exitstatus,
            shard=s.shard,
            extra_results=missing_results(evidence, among=mine),
            redactions=self._redactions(),
            early=self.early.finish(),
        )

    def _redactions(self) -> dict[str, int]:
        counts = Counter(self.redactor.counts)
        counts.update(self.worker_redactions)
        if self.collector is not None:
            counts.update(self.collector.redactor.counts)
        return dict(counts)

    def _on_final(self, node_id: str) -> None:
        """A task's final attempt closed: have its result written while tests go on."""
        task_id = self._guess_task_id(node_id)
        s = self.settings
        if task_id is None or (s.shard and not in_shard(task_id, s.shard.index, s.shard.count)):
            return
        result = self.aggregator.result(node_id, task_id)
        self.early.submit(task_id, render_task_result(s.run_id, result), result_key(result))

    def _guess_task_id(self, node_id: str) -> str | None:
        """The task id the plan will give ``node_id``: from the plan when this process
        collected, else derived as the collecting side would. A wrong guess (a
        dome_task id under xdist) is rewritten at the end."""
        if self._hint is not None:  # the report that closed the task named it
            return self._hint
        if self._task_of is None and self.collector is not None:
            plan = self.collector.plan  # made on each read: once
            if plan:
                self._task_of = {t.node_id: t.task_id for t in plan}
        if self._task_of is not None:
            return self._task_of.get(node_id)
        if node_id.startswith(COMMAND_PREFIX):
            return node_id[len(COMMAND_PREFIX) :]
        if node_id not in self._shown_ids or self._shown_ids[node_id] != node_id:
            return None  # its id held a secret: decided at the end
        return task_id_for(node_id)

    def close(self) -> None:
        release_lock(self.lock)

    def _resume_collector(self) -> None:
        if self._collector_paused:
            self._collector_paused = False
            gc.enable()

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

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        if self.usage_error:
            return
        tr.write_sep("=", "dome release gate")
        if self.outcome is None:
            tr.write_line(
                f"dome: no decision was written ({self.failure or 'the session did not finish'})",
                red=True,
            )
            return
        where = self.settings.display_path(self.outcome.run_dir)
        if self.failure:
            tr.write_line(f"dome: {self.failure}", red=True)
        if self.replaced is not None:
            tr.write_line(f"replaced the earlier evidence of run {self.settings.run_id}")
        gate = self.outcome.gate
        if gate is None:
            shard = self.settings.shard
            assert shard is not None
            tr.write_line(
                f"shard {shard.index}/{shard.count} recorded (no decision of its own): {where}; "
                "combine the shards with `dome merge`"
            )
            return
        promotion = self.outcome.promotion
        assert promotion is not None
        color = {"APPROVE": "green", "NEEDS_HUMAN": "yellow", "REJECT": "red"}[gate.status]
        first, *rest = review_lines(gate, promotion, self.outcome.named, where)
        tr.write_line(first, **{color: True, "bold": True})
        for line in rest:
            tr.write_line(line)
        problem = self._step_summary(markdown(gate, promotion, self.outcome.named, where))
        if problem:
            tr.write_line(f"dome: {problem}", yellow=True)
        # Shown: let them go before pytest's exit-time gc.collect() scans them.
        self.outcome = dataclasses.replace(self.outcome, named=())

    def _step_summary(self, text: str) -> str | None:
        """In GitHub Actions, the same summary as Markdown on the job's page; says why not."""
        target = os.environ.get("GITHUB_STEP_SUMMARY")
        if not target:
            return None
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            return f"cannot write GITHUB_STEP_SUMMARY ({target}): {exc.strerror or exc}"
        return None


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed (registered conditionally)."""

    def __init__(self, controller: DomeController) -> None:
        self.controller = controller

    def pytest_configure_node(self, node: Any) -> None:
        s = self.controller.settings
        node.workerinput["dome"] = {
            "packet": s.packet_document,
            "max_retries": s.max_retries,
            "shard": [s.shard.index, s.shard.count] if s.shard else None,
            "redact_patterns": [list(p) for p in s.redact_patterns],
            "redact_reports": s.redact_reports,
        }

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.controller.collected_ids is None:
            self.controller.collected_ids = list(ids)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        if error:
            self.controller.worker_crashes += 1
        output = getattr(node, "workeroutput", None) or {}
        self.controller.worker_redactions.update(output.get("dome_redactions", {}))
        # Every worker sends the same plan: keep the first (taken out of the node's
        # output, where xdist keeps it: 7 MiB per worker at 50,000 tasks), parsed at
        # the finish with the garbage collector paused (parsed here, 50,000 tasks
        # brought on a full collection before it).
        plan = output.pop("dome_plan", None)
        if self.controller.plan_json is None and plan is not None:
            self.controller.plan_json = plan
            self.controller.problems = tuple(output.get("dome_problems", ()))
