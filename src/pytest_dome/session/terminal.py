"""The review of the gate's decision: the terminal's "dome release gate" section and,
in GitHub Actions, the same review as Markdown in the step summary (the job's page)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..report.render import Review, review_lines, review_markdown
from ..runfolder.writer import append_text
from .compat import announce

if TYPE_CHECKING:
    from .controller import DomeController


PLUGIN_NAME = "dome-review"


class GateReporter:
    """Shows what the controller decided (or why it could not); registered as
    :data:`PLUGIN_NAME`."""

    def __init__(self, controller: DomeController) -> None:
        self.controller = controller

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Say who retries which tests when another plugin does (also under -q)."""
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            c = self.controller
            for line in announce(session.config, c.settings.max_retries, serial=c.runner is not None):
                tr.write_line(line, yellow=True)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr, c = terminalreporter, self.controller
        if c.usage_error:
            return
        tr.write_sep("=", "dome release gate")
        outcome = c.outcome
        if outcome is None:
            tr.write_line(
                f"dome: no decision was written ({c.failure or 'the session did not finish'})", red=True
            )
            return
        where = c.settings.display_path(outcome.run_dir)
        if c.failure:
            tr.write_line(f"dome: {c.failure}", red=True)
        if c.replaced is not None:
            tr.write_line(f"replaced the earlier evidence of run {c.settings.run_id}")
        gate, promotion = outcome.gate, outcome.promotion
        if gate is None or promotion is None:
            shard = c.settings.shard
            assert shard is not None
            tr.write_line(
                f"shard {shard.index}/{shard.count} recorded (no decision of its own): {where}; "
                "combine the shards with `dome merge`"
            )
            return
        color = {"APPROVE": "green", "NEEDS_HUMAN": "yellow", "REJECT": "red"}[gate.status]
        review = Review(gate, promotion, outcome.named, outcome.verify, where, outcome.comparison)
        first, *rest = review_lines(review)
        tr.write_line(first, **{color: True, "bold": True})
        for line in rest:
            tr.write_line(line)
        problem = append_step_summary(review_markdown(review))
        if problem:
            tr.write_line(f"dome: {problem}", yellow=True)
        warning = c.history.warning()
        if warning:
            tr.write_line(warning, yellow=True)


def show_late(config: pytest.Config) -> None:
    """Show the gate's section for a run decided after pytest's terminal summary (a
    session that never reached its finish: ``DomeController.finish_without_session``)."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    reporter = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if terminal is not None and reporter is not None:
        reporter.pytest_terminal_summary(terminal)


def append_step_summary(text: str) -> str | None:
    """Append ``text`` to GitHub's step summary when there is one; says why it could not."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    try:
        append_text(Path(target), text + "\n")
    except OSError as exc:
        return f"cannot write GITHUB_STEP_SUMMARY ({target}): {exc.strerror or exc}"
    return None
