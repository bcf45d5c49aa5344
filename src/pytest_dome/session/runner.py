"""The task runner of a gated run (on each xdist worker, or the one serial process).

Plans the run from what it collected, turns the packet's command tasks into
pytest items, keeps only this shard's tasks, and retries failed tasks within
the bound. It never writes evidence: it hands the plan to the controller.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..core.plan import COMMAND_PREFIX, CollectedTest, PlannedTask, in_shard, make_plan
from ..core.redact import Redactor
from ..core.taskid import shown_node_id
from ..runfolder.speedups import gc_paused
from .compat import FLAKY, FlakyAttempts, retried_by, retriers
from .plans import plan_wire
from .pytest_private import run_phases, teardown_all

if TYPE_CHECKING:  # pydantic is imported only when there is a packet
    from ..contracts.models import CommandTask, Packet

DEFAULT_COMMAND_TIMEOUT = 600.0
ALWAYS_PASSED_ENV = ("PATH",)


class CommandFailed(Exception):
    """A command task did not exit 0 within its timeout."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class CommandItem(pytest.Item):
    """A packet command task, run as a pytest item (so it runs under xdist like a test)."""

    def __init__(self, *, task: CommandTask, redactor: Redactor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.redactor = redactor

    def runtest(self) -> None:
        from .commands import run_command

        task = self.task
        cwd = self.config.rootpath / (task.cwd or ".")
        names = (*ALWAYS_PASSED_ENV, *(task.env or ()))
        env = {name: os.environ[name] for name in names if name in os.environ}
        result = run_command(task.argv, cwd, task.timeout or DEFAULT_COMMAND_TIMEOUT, self.redactor, env)
        if result.status != "passed":
            how = {
                "failed": f"exited with {result.exit_code}",
                "timeout": f"timed out after {task.timeout or DEFAULT_COMMAND_TIMEOUT:g} s",
                "error": "could not start",
            }.get(result.status, result.status)
            raise CommandFailed(
                f"{result.output_tail.rstrip()}\ncommand task {task.id!r} ({shlex.join(result.argv)}) {how}"
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CommandFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"dome command task {self.task.id}"


class PacketCollector(pytest.Collector):
    """The parent of the command items (node id ``dome-packet``)."""

    def __init__(self, *, packet: Packet, redactor: Redactor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.packet = packet
        self.redactor = redactor

    def collect(self) -> Iterator[CommandItem]:
        from ..contracts.models import CommandTask

        for task in self.packet.tasks:  # packet order: identical on every worker
            if isinstance(task, CommandTask):
                yield CommandItem.from_parent(self, name=task.id, task=task, redactor=self.redactor)


def redact_report(report: pytest.TestReport | pytest.CollectReport, redactor: Redactor) -> None:
    """Remove secrets from a report's failure text, captured output, xfail reason
    and ``record_property`` values, in place, before any reporter (terminal,
    junitxml, xdist's wire) reads it."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, lineno, reason = longrepr
        report.longrepr = (path, lineno, redactor.redact(str(reason)))
    elif longrepr is not None:
        text = str(longrepr)
        redacted = redactor.redact(text)
        if redacted != text:
            report.longrepr = redacted
    if report.sections:
        report.sections = [(title, redactor.redact(content)) for title, content in report.sections]
    xfail = getattr(report, "wasxfail", None)
    if isinstance(xfail, str) and xfail:
        report.wasxfail = redactor.redact(xfail)  # type: ignore[union-attr]
    properties = getattr(report, "user_properties", None)
    if properties:  # junitxml writes each as str(value): a value is kept unless that text changes
        kept = []
        for name, value in properties:
            text = str(value)
            shown = redactor.redact(text)
            kept.append((redactor.redact(str(name)), value if shown == text else shown))
        report.user_properties = kept  # type: ignore[union-attr]


class _Attempt:
    """The attempt of a test that dome is running, while it runs."""

    def __init__(self, item: pytest.Item, max_retries: int) -> None:
        self.item = item
        self.max_retries = max_retries
        self.number = 1
        self.failed = False

    @property
    def more(self) -> bool:
        """A failure of this attempt will be retried."""
        return self.number <= self.max_retries

    def next(self) -> None:
        self.number += 1
        self.failed = False


class TaskRunner:
    """Registered on every process of a gated run that collects and runs tests."""

    def __init__(
        self,
        config: pytest.Config,
        packet: Packet | None,
        max_retries: int,
        shard: tuple[int, int] | None,
        redact_patterns: list[tuple[str, str]] | None = None,
        redact_reports: bool = True,
    ) -> None:
        self.config = config
        self.packet = packet
        self.max_retries = max_retries
        self.shard = shard
        self.redact_reports = redact_reports
        self.redactor = Redactor(extra_patterns=redact_patterns or ())
        self._plan: tuple[tuple[Any, ...], ...] | None = None
        self._taken: tuple[PlannedTask, ...] | None = None
        self.problems: tuple[str, ...] = ()
        self.task_of: dict[str, str] = {}
        """Node id -> task id of the planned items: each report carries its task id."""
        self.ids_clean = False
        """No collected node id holds anything to redact (checked in one search)."""
        self.retriers = retriers(config)
        """The plugins that rerun tests themselves (their tests are not retried by dome)."""
        self._attempt: _Attempt | None = None
        if FLAKY in self.retriers:
            config.pluginmanager.register(FlakyAttempts(self.retriers), "dome-flaky")

    def take_plan(self) -> tuple[PlannedTask, ...] | None:
        """The plan as named tuples, for the finish (the same on a second read).

        Kept as exact tuples of strings, booleans and floats while the tests run:
        the garbage collector stops tracking those at its first look, where it
        tracks a named tuple for good: 50,000 of them kept through the run were
        50,000 more objects counted toward its next full collection and scanned
        by every one. Taken, the exact tuples and the node id -> task id map
        (which only the tests needed) are let go: 60,000 tasks, about 12 MiB less
        at the finish's peak. :meth:`drop_plan` lets go of the named tuples.
        """
        if self._taken is None and self._plan is not None:
            self._taken = tuple(map(PlannedTask._make, self._plan))
            self._plan, self.task_of = None, {}
        return self._taken

    def drop_plan(self) -> None:
        """After the finish: pytest's collections at exit need not scan the plan."""
        self._taken = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> Generator[None, None, None]:
        # The outermost wrapper: plan after every other plugin (-k, -m, --lf, ...)
        # has reordered and deselected.
        yield
        with gc_paused():  # 50,000 tests: one full collection less (see the plan)
            self._plan_items(session, config, items)

    def _plan_items(self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
        self.ids_clean = self.redactor.finds_nothing(item.nodeid for item in items)
        by_marker = self.packet is not None and any(
            getattr(getattr(t, "select", None), "markers", None) for t in self.packet.tasks
        )
        tests = []
        for item in items:
            marker = item.get_closest_marker("dome_task")
            tests.append(
                CollectedTest(
                    node_id=item.nodeid,
                    shown=item.nodeid if self.ids_clean else shown_node_id(item.nodeid, self.redactor),
                    markers=frozenset(m.name for m in item.iter_markers()) if by_marker else frozenset(),
                    declared={**marker.kwargs, "_positional": marker.args} if marker else {},
                )
            )
        result = make_plan(self.packet, tests)
        problems = result.problems
        if session.testsfailed:  # collection errors: a selector may select nothing because
            # its module did not import; that is a REJECT (COLLECTION_ERROR), not bad input
            problems = tuple(p for p in problems if "selects no collected test" not in p)
        self._plan, self.problems = tuple(map(tuple, result.tasks)), problems
        if problems:  # bad input: run nothing, the controller reports it
            keep: list[pytest.Item] = []
        else:
            keep = [i for i in items if i.nodeid in result.task_of]
            if self.packet is not None:
                collector = PacketCollector.from_parent(
                    session,
                    name=COMMAND_PREFIX.rstrip(":"),
                    nodeid=COMMAND_PREFIX.rstrip(":"),
                    packet=self.packet,
                    redactor=self.redactor,
                )
                keep = list(collector.collect()) + keep
            task_of = {
                **result.task_of,
                **{COMMAND_PREFIX + t.task_id: t.task_id for t in result.tasks if t.kind == "command"},
            }
            if self.shard is not None:
                keep = [i for i in keep if in_shard(task_of[i.nodeid], *self.shard)]
            self.task_of = task_of
        kept = {id(i) for i in keep}
        deselected = [i for i in items if id(i) not in kept]
        items[:] = keep
        if deselected:
            config.hook.pytest_deselected(items=deselected)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if self.redact_reports:
            redact_report(report, self.redactor)
        attempt = self._attempt
        if attempt is not None and attempt.item is item and report.failed and attempt.more:
            # A failing phase (or subtest) of an attempt dome will retry: logged as a
            # rerun, never counted as a failure (nor by -x, --lf, or the subtests'
            # count that fails the test).
            attempt.failed = True
            report.outcome = "rerun"  # type: ignore[assignment]
        task_id = self.task_of.get(item.nodeid) if call.when == "teardown" else None
        if task_id is not None:  # sent along by xdist: the controller needs no guess
            # On the report that closes an attempt only: under xdist the controller
            # gets a copy of the string with each report, and keeps the reports.
            report.dome_task = task_id  # type: ignore[attr-defined]
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        if self.redact_reports and report.failed:
            redact_report(report, self.redactor)
        return report

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        """Retry a failed item up to ``max_retries`` times, each attempt a whole call
        of this hook: every plugin's wrapper (timeouts, warnings, faulthandler) and
        fixture finalizer runs for each attempt as for the first.

        The outermost wrapper: the first attempt is the call in progress; a retry
        calls the hook again once every other wrapper of the first has finished.
        A failing report of an attempt that will be retried is logged with outcome
        'rerun' (see :meth:`pytest_runtest_makereport`). Tests that another plugin
        reruns (:mod:`compat`) are left to it.
        """
        if (
            self._attempt is not None  # a retry, in progress: run it as it comes
            or self.max_retries <= 0
            or item.config.option.usepdb
            or (self.retriers and retried_by(item, self.retriers))
        ):
            return (yield)
        attempt = self._attempt = _Attempt(item, self.max_retries)
        try:
            result = yield
            while attempt.failed and attempt.more:
                # A retry starts from scratch: a fixture (of any scope) or a collector
                # whose setup failed runs again, not handing back its cached error; the
                # same outcome whatever the next item. No other wrapper is active here.
                teardown_all(item)
                attempt.next()
                item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        finally:
            self._attempt = None
        return result

    @pytest.hookimpl(tryfirst=True, specname="pytest_runtest_protocol")
    def pytest_runtest_protocol_attempt(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        """One attempt of a test that dome retries, in place of pytest's own runner.

        The same phases, logged as pytest logs them, but for an attempt that will be
        retried: only its failing report is logged, as a rerun. Reporters then see
        one test (junit XML: one test case; the terminal: one pass), and the
        attempt is recorded all the same.
        """
        attempt = self._attempt
        if attempt is None or attempt.item is not item:
            return None
        ihook = item.ihook
        if attempt.number == 1:  # one start and one finish per test, as reporters expect
            ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        reports = run_phases(item, nextitem)
        last = not (attempt.failed and attempt.more)
        if not last:
            # The failing phase; a failed subtest fails the call (its own report is logged).
            failing = next((r for r in reports if str(r.outcome) == "rerun"), None)
            failing = failing or next((r for r in reports if r.when == "call"), reports[0])
            failing.outcome = "rerun"  # type: ignore[assignment]
            if failing.when == "teardown":  # junitxml closes a test case on a teardown report
                failing.dome_when = "teardown"  # type: ignore[attr-defined]
                failing.when = "call"
            reports = [failing]
        for report in reports:
            ihook.pytest_runtest_logreport(report=report)
        if last:
            ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        output = getattr(self.config, "workeroutput", None)
        if output is not None and self._plan is not None:
            output["dome_plan"] = plan_wire(self._plan)
            output["dome_problems"] = list(self.problems)
            output["dome_redactions"] = dict(self.redactor.counts)
