"""The pytest shell: translates hooks into calls on the pure core.

Inactive (only its options are registered) unless ``--dome-run-id`` is given.
Only the controller (or the single process of a serial run) aggregates and
writes; xdist workers do nothing dome-specific.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .aggregate import SUMMARY_CHARS, Aggregator, PhaseReport
from .config import (
    DEFAULT_RUNTIME_DIR,
    ConfigError,
    Options,
    check_run_id,
    parse_threshold,
    resolve,
)
from .evidence import EvidenceError, prepare_run_dir
from .models import Execution, Phase, SessionFacts
from .redact import Redactor
from .run import Run, RunOutcome, utc_now

controller_key = pytest.StashKey["DomeController"]()

_XDIST_HEADER = re.compile(r"\[gw\d+\] \S+ -- Python ")
"""xdist's first line of a worker's report names the machine's interpreter path."""


def _usage(convert: Any) -> Any:
    """Wrap a parser ``type=`` so a bad value gives pytest's one-line usage error."""

    def parse(value: str) -> Any:
        try:
            return convert(value)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None

    parse.__name__ = convert.__name__
    return parse


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ConfigError(f"--dome-verify-timeout: {value!r} is not a positive number of seconds")
    return number


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dome", "release gate (pytest-dome)")
    group.addoption(
        "--dome-run-id",
        metavar="ID",
        type=_usage(check_run_id),
        help="Gate this session as run ID ([A-Za-z0-9][A-Za-z0-9._-]{0,127}); "
        "without it the plugin does nothing.",
    )
    group.addoption(
        "--dome-out",
        metavar="DIR",
        help=f"Runtime folder for run evidence, relative to the current folder "
        f"([tool.dome] runtime_dir; default {DEFAULT_RUNTIME_DIR.as_posix()} under the rootdir).",
    )
    group.addoption(
        "--dome-policy",
        metavar="FILE",
        help="Risk policy JSON file ([tool.dome] policy; default: the built-in policy).",
    )
    group.addoption(
        "--dome-risk-threshold",
        metavar="SCORE",
        type=_usage(parse_threshold),
        help="Risk threshold 0..100: NEEDS_HUMAN when the score is not below it "
        "([tool.dome] risk_threshold; default: the policy's).",
    )
    group.addoption(
        "--dome-fail-on",
        metavar="STATUSES",
        action="append",
        help="Comma-separated gate statuses that fail the session; REJECT always does "
        "([tool.dome] fail_on). Example: --dome-fail-on=NEEDS_HUMAN.",
    )
    group.addoption(
        "--dome-verify",
        metavar="COMMAND",
        action="append",
        default=[],
        help="A deterministic verify command, split like a shell would (never run through "
        "one); repeatable, added to [tool.dome] verify.",
    )
    group.addoption(
        "--dome-verify-timeout",
        metavar="SECONDS",
        type=_usage(_positive),
        help="Seconds each verify command may run ([tool.dome] verify_timeout; default 600).",
    )
    group.addoption(
        "--dome-replace",
        action="store_true",
        default=False,
        help="Replace the evidence of an existing run with the same run id (never silent).",
    )


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    run_id = config.getoption("dome_run_id")
    if not run_id or is_worker(config) or config.option.collectonly:
        return
    options = Options(
        run_id=run_id,
        out=config.getoption("dome_out"),
        policy=config.getoption("dome_policy"),
        risk_threshold=config.getoption("dome_risk_threshold"),
        fail_on=config.getoption("dome_fail_on"),
        verify=config.getoption("dome_verify"),
        verify_timeout=config.getoption("dome_verify_timeout"),
        replace=config.getoption("dome_replace"),
    )
    try:
        settings = resolve(options, config.rootpath, config.invocation_params.dir)
        replaced = prepare_run_dir(
            settings.run_dir, settings.display_path(settings.run_dir), settings.replace
        )
    except (ConfigError, EvidenceError) as exc:
        raise pytest.UsageError(str(exc)) from None
    controller = DomeController(config, Run(settings, utc_now(), Redactor(), replaced))
    config.stash[controller_key] = controller
    config.pluginmanager.register(controller, "dome-controller")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(controller), "dome-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    controller = config.stash.get(controller_key, None)
    if controller is not None:
        controller.finish_without_session()
        del config.stash[controller_key]
        for name in ("dome-controller", "dome-xdist"):
            plugin = config.pluginmanager.get_plugin(name)
            if plugin is not None:
                config.pluginmanager.unregister(plugin)


def _summary(report: pytest.TestReport, rootdir: Path, redactor: Redactor) -> str | None:
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
        else:  # a worker crash or a plugin's plain-text report
            lines = [
                line
                for line in report.longreprtext.splitlines()
                if line.strip() and not _XDIST_HEADER.match(line)
            ]
            text = "\n".join(lines[-3:])
    return redactor.redact(text)[:SUMMARY_CHARS] or None


class DomeController:
    """Aggregates reports and writes the decision (controller or serial process only)."""

    def __init__(self, config: pytest.Config, run: Run) -> None:
        self.config = config
        self.run = run
        self.aggregator = Aggregator(run.settings.run_id)
        self.planned: list[str] | None = None
        self.collection_errors = 0
        self.worker_crashes = 0
        self.internal_error = False
        self.keyboard_interrupt = False
        self.workers: set[str] = set()
        self.outcome: RunOutcome | None = None
        self.failure: str | None = None

    # --- collection -----------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.planned is None:
            self.planned = [item.nodeid for item in session.items]

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors += 1

    # --- reports ----------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        when: Phase = "crash" if str(report.when) == "???" else report.when
        node = getattr(report, "node", None)  # the xdist worker, on the controller
        self.aggregator.add(
            PhaseReport(
                node_id=report.nodeid,
                when=when,
                outcome=report.outcome,
                wasxfail=hasattr(report, "wasxfail"),
                duration=report.duration,
                worker=node.gateway.id if node is not None else None,
                summary=_summary(report, self.run.settings.rootdir, self.run.redactor),
                subtest=type(report).__name__ == "SubtestReport",
            )
        )

    # --- incidents --------------------------------------------------------

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if not isinstance(excinfo.value, pytest.Session.Interrupted):
            self.keyboard_interrupt = True

    def pytest_internalerror(self) -> None:
        self.internal_error = True

    # --- the decision -----------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = (
            exitstatus == pytest.ExitCode.INTERRUPTED
            or bool(session.shouldstop)
            or bool(session.shouldfail)
            or self.keyboard_interrupt
        ) and not self._only_collection_errors()
        self._finish(int(exitstatus), interrupted)
        if self.outcome is not None:
            session.exitstatus = self.outcome.exit_status
        else:
            session.exitstatus = max(int(exitstatus), int(pytest.ExitCode.INTERNAL_ERROR))

    def finish_without_session(self) -> None:
        """Fallback for a session that never reached its finish (a broken start):
        the run still ends with a terminal decision."""
        if self.outcome is not None or self.failure is not None:
            return
        self.internal_error = True
        self._finish(int(pytest.ExitCode.INTERNAL_ERROR), interrupted=False)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            self.pytest_terminal_summary(reporter)

    def _finish(self, exitstatus: int, interrupted: bool) -> None:
        """Decide and write the evidence; never raises (other plugins must still run)."""
        facts = SessionFacts(
            collection_errors=self.collection_errors,
            interrupted=interrupted,
            worker_crashes=self.worker_crashes,
            internal_error=self.internal_error or exitstatus == pytest.ExitCode.INTERNAL_ERROR,
        )
        xdist = bool(self.workers)
        execution = Execution(
            mode="xdist" if xdist else "serial", workers=len(self.workers) if xdist else 1
        )
        try:
            self.outcome = self.run.finish(
                self.aggregator.results(self.planned or []),
                facts,
                execution,
                exitstatus,
                run_verify=not self.keyboard_interrupt,
            )
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"

    def _only_collection_errors(self) -> bool:
        """pytest stops with 'Interrupted: N errors during collection': that is a
        collection error, not an interruption."""
        return self.collection_errors > 0 and not self.keyboard_interrupt

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        tr.write_sep("=", "dome release gate")
        if self.outcome is None:
            tr.write_line(
                f"dome: no decision was written ({self.failure or 'the session did not finish'})",
                red=True,
            )
            return
        gate = self.outcome.gate
        color = {"APPROVE": "green", "NEEDS_HUMAN": "yellow", "REJECT": "red"}[gate.status]
        tr.write_line(
            f"decision: {gate.status}  (promotion: {self.outcome.promotion.action})",
            **{color: True, "bold": True},
        )
        tr.write_line(f"risk score: {gate.risk.score:g} against threshold {gate.risk.threshold:g}")
        tr.write_line(f"reason codes: {', '.join(gate.reason_codes)}")
        tr.write_line(f"evidence: {self.run.settings.display_path(self.outcome.run_dir)}")


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed (registered conditionally)."""

    def __init__(self, controller: DomeController) -> None:
        self.controller = controller

    def pytest_testnodeready(self, node: Any) -> None:
        self.controller.workers.add(node.gateway.id)

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.controller.planned is None:
            self.controller.planned = list(ids)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        if error:
            self.controller.worker_crashes += 1
