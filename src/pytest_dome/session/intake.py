"""Report intake: pytest's reports become task results while the session runs.

Registered on the deciding process (the xdist controller, or the one serial
process). Each report is redacted where it must be, reduced to a
:class:`~pytest_dome.core.aggregate.PhaseReport` and aggregated; when a task's
final attempt closes, its result file is written at once (the report that
closed it names its task id), so the finish has little left to write.
:func:`guard_cache` keeps the same renamed node ids in pytest's own cache.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..contracts.models import Phase
from ..core.aggregate import SUMMARY_CHARS, Aggregator
from ..core.redact import Redactor
from ..core.taskid import shown_node_id
from ..runfolder.writer import TaskResultFiles

if TYPE_CHECKING:
    from ..config.settings import Settings
    from .runner import TaskRunner

_XDIST_HEADER = re.compile(r"\[gw\d+\] \S+ -- Python ")
"""xdist's first line of a worker's report names the machine's interpreter path."""


def summary_of(report: pytest.TestReport, rootdir: Path, redactor: Redactor) -> str | None:
    """A report's ``summary`` (as a task result's attempts have it): a short, redacted
    account of why it did not pass."""
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


class ReportIntake:
    """Aggregates the test reports and writes each final result as it closes."""

    def __init__(self, settings: Settings, redactor: Redactor, runner: TaskRunner | None) -> None:
        self.settings = settings
        self.redactor = redactor
        self.runner = runner  # the serial process's own task runner; None under xdist
        self.aggregator = Aggregator(settings.run_id, on_final=self._on_final)
        self.files = TaskResultFiles(settings.run_dir)
        self._shown_ids: dict[str, str] = {}
        self.rewrite: set[str] = set()
        """Node ids whose final attempt was closed by a report that names no task
        (an xdist worker's crash): the finish writes their results."""

    def shown(self, node_id: str) -> str:
        """``node_id`` as it may be shown (secrets renamed, as the plan has it)."""
        shown = self._shown_ids.get(node_id)
        if shown is None and self.runner is not None and self.runner.ids_clean:
            if node_id in self.runner.task_of:  # collected here, checked clean at once
                return node_id
        if shown is None:  # once per node id, not once per phase report
            if len(self._shown_ids) >= 512:  # a test's reports come together: keep the recent ones
                self._shown_ids.clear()
            shown = self._shown_ids[node_id] = shown_node_id(node_id, self.redactor)
        return shown

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # First of all reporters: the node id as the plan has it, so a secret in a
        # test id reaches neither the terminal nor junitxml (xdist's worker-side
        # check of node ids has run already).
        shown = self.shown(report.nodeid)
        if shown != report.nodeid:  # the failure header is drawn from the location
            path, lineno, domain = report.location
            report.location = (path, lineno, self.redactor.redact(domain))
        report.nodeid = shown
        when: Phase = "crash" if str(report.when) == "???" else report.when
        node = getattr(report, "node", None)  # the xdist worker, on the controller
        self.aggregator.add_phase(
            shown,
            getattr(report, "dome_when", when),  # a retried teardown, logged as "call"
            report.outcome,
            hasattr(report, "wasxfail"),
            report.duration,
            node.gateway.id if node is not None else None,
            summary_of(report, self.settings.rootdir, self.redactor),
            type(report).__name__ == "SubtestReport",
            report.__dict__.pop("dome_retried", False),
            # The plan's task id, on the report that closes a task's attempt (set by
            # the task runner); a worker's crash report has none: written at the finish.
            report.__dict__.pop("dome_task", None),
        )

    def _on_final(self, node_id: str, task_id: str | None) -> None:
        """A task's final attempt closed (``task_id``: from the report that closed it):
        write its result while the tests go on."""
        if task_id is None:  # a crash report: its task may have been written already
            self.rewrite.add(node_id)
            return
        self.files.write(task_id, self.aggregator.render(node_id, task_id))


def guard_terminal(config: pytest.Config, intake: ReportIntake) -> None:
    """Rename secrets in the node ids pytest's terminal prints before any report:
    ``pytest -v`` writes a test's id when it starts (serially, and on the xdist
    controller), through ``config.cwd_relative_nodeid``, as do the short summary's
    lines. Reports carry renamed ids already (:meth:`ReportIntake.pytest_runtest_logreport`)."""
    relative: Any = config.cwd_relative_nodeid

    def shown_relative(nodeid: Any) -> Any:
        # A str up to pytest 9.1; from 9.2 a structured NodeId, made again from the text.
        text = str(nodeid)
        shown = intake.shown(text)
        if shown == text:
            return relative(nodeid)
        return relative(shown if isinstance(nodeid, str) else type(nodeid).parse(shown))

    setattr(config, "cwd_relative_nodeid", shown_relative)  # noqa: B010 - an instance attribute over the method


def _renamed(value: object, redactor: Redactor) -> object:
    """``value`` (JSON) with every string that holds a secret renamed as a node id is."""
    if isinstance(value, str):
        return shown_node_id(value, redactor)
    if isinstance(value, dict):
        return {_renamed(k, redactor): _renamed(v, redactor) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_renamed(v, redactor) for v in value]
    return value


def guard_cache(config: pytest.Config, settings: Settings) -> None:
    """Rename secrets in whatever is written to pytest's cache during a gated run.

    pytest's ``--lf``, ``--nf`` and ``--sw`` keep node ids in ``.pytest_cache``
    (``cache/lastfailed``, ``cache/nodeids``, ``cache/stepwise``); ``--nf`` records
    them as collected, before any report. Every ``config.cache.set`` goes through
    here, with a redactor of its own (the evidence's redaction counts stay the
    run's). Only the deciding process writes the cache (pytest's plugins skip it on
    xdist workers).
    """
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    if cache is None:
        return
    redactor = Redactor(extra_patterns=settings.redact_patterns)
    write = cache.set

    def set_renamed(key: str, value: object) -> None:
        write(key, _renamed(value, redactor))

    setattr(cache, "set", set_renamed)  # noqa: B010 - an instance attribute over the method
