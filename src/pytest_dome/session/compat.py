"""What dome knows of other pytest plugins that retry tests or end the process.

pytest-rerunfailures and flaky rerun tests themselves. Where one of them reruns
a test, dome's own retry steps aside for that test (the user's counts hold),
and the reruns are read as the task's attempts: rerunfailures logs a rerun
attempt's failing report with outcome ``rerun``; flaky logs none of a rerun
attempt's setup or call reports, and :class:`FlakyAttempts` (registered by the
task runner) logs them in its place. Known by their registered names (the
``pytest11`` entry point names), so nothing here imports them; the few private
attributes of theirs read here (``_is_rerun_path_excluded``,
``_get_global_reruns``, ``_flaky_max_runs``) are read with ``getattr`` and a
default: a change there makes dome read the plugin less well (it may retry
such a test itself), never crash.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

RERUNFAILURES = "rerunfailures"
FLAKY = "flaky"
TIMEOUT = "timeout"
RECORDED = "each of its runs is recorded as an attempt"


def retriers(config: pytest.Config) -> tuple[str, ...]:
    """The retrying plugins active in this session, by registered name."""
    return tuple(name for name in (RERUNFAILURES, FLAKY) if config.pluginmanager.has_plugin(name))


def retried_by(item: pytest.Item, active: tuple[str, ...]) -> str | None:
    """The plugin of ``active`` that reruns ``item`` itself, or None."""
    config = item.config
    if RERUNFAILURES in active:
        plugin: Any = config.pluginmanager.get_plugin(RERUNFAILURES)
        excluded = getattr(plugin, "_is_rerun_path_excluded", None)
        count = getattr(plugin, "get_reruns_count", None)
        if count is not None and count(item) is not None and not (excluded and excluded(item)):
            return RERUNFAILURES
    if FLAKY in active:
        # @flaky on the function or class, or flaky's marker (@pytest.mark.flaky,
        # turned into attributes only in flaky's own setup); rerunfailures, which
        # reads the same marker name, did not claim the test above.
        marked = item.get_closest_marker("flaky") is not None or any(
            getattr(holder, "_flaky_max_runs", None) is not None
            for holder in (item, getattr(item, "obj", None), getattr(item, "cls", None))
        )
        if marked or config.getoption("force_flaky", False):
            return FLAKY
    return None


def announce(config: pytest.Config, max_retries: int, serial: bool) -> list[str]:
    """The lines that say, at the session's start, who retries which tests, and
    what a serial run cannot survive."""
    active = retriers(config)
    ours = f"dome's own retries (max_retries {max_retries})"
    lines = []
    if RERUNFAILURES in active:
        plugin: Any = config.pluginmanager.get_plugin(RERUNFAILURES)
        global_reruns = getattr(plugin, "_get_global_reruns", None)  # --reruns or the ini's reruns
        reruns = global_reruns(config) if global_reruns is not None else config.getoption("reruns", None)
        which = f"every test (--reruns {reruns})" if reruns is not None else "the tests marked flaky for it"
        lines.append(f"dome: pytest-rerunfailures reruns {which} in place of {ours}; {RECORDED}")
    if FLAKY in active:
        forced = config.getoption("force_flaky", False)
        which = "every test (--force-flaky)" if forced else "the tests marked @flaky"
        lines.append(f"dome: flaky reruns {which} in place of {ours}; {RECORDED}")
    timeout: Any = config.pluginmanager.get_plugin(TIMEOUT)
    timeout_settings = getattr(timeout, "get_env_settings", None)
    if serial and timeout_settings is not None:
        found = timeout_settings(config)
        if found.timeout and found.method == "thread":
            lines.append(
                "dome: pytest-timeout's thread method ends the whole process when a test times out: "
                "a serial run then ends without a decision (use --timeout-method=signal, or workers)"
            )
    return lines


class FlakyAttempts:
    """Logs the reports flaky keeps back, so that every attempt it runs is recorded.

    flaky logs none of an attempt's setup and call reports when it will run the
    test again. At that attempt's teardown they are logged here, a failure as a
    rerun (as pytest-rerunfailures logs it), and the teardown report is marked
    as closing an attempt that is not the last: a pass after a failure is then
    flaky in the decision. Registered only when flaky is.
    """

    def __init__(self, active: tuple[str, ...]) -> None:
        self.active = active
        self.made: dict[str, list[pytest.TestReport]] = {}
        """Node id -> its attempt's setup and call reports so far (flaky's tests only)."""
        self.logged: set[int] = set()
        """The ``id()`` of those that were logged (alive in ``made`` meanwhile)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if retried_by(item, self.active) != FLAKY:
            return report
        made = self.made.setdefault(item.nodeid, [])
        if report.when != "teardown":
            made.append(report)
            return report
        made = self.made.pop(item.nodeid)
        hidden = [r for r in made if id(r) not in self.logged]
        self.logged.difference_update(id(r) for r in made)
        for earlier in hidden:
            if earlier.failed:
                earlier.outcome = "rerun"  # type: ignore[assignment]
            item.ihook.pytest_runtest_logreport(report=earlier)
        if hidden:
            report.dome_retried = True  # type: ignore[attr-defined]
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # By identity: the intake may have renamed the node id already. ``made`` holds
        # the flaky test in progress only (one per process).
        if any(r is report for made in self.made.values() for r in made):
            self.logged.add(id(report))
