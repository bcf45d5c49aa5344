"""The run history as one self-contained HTML page (``dome flaky --html FILE``):
the decisions of the window's runs and the suite's duration as charts, and a
timeline per flaky test. Inline SVG: no script, no network, no font."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..history.flaky import FlakyTest, Window, timeline
from ..history.store import RunRow, Store
from .render import _page

COLOURS = {
    "APPROVE": "#1a7f37",
    "NEEDS_HUMAN": "#9a6700",
    "REJECT": "#cf222e",
    "started": "#8c959f",
    "passed": "#1a7f37",
    "retried": "#d4a72c",
    "failed": "#cf222e",
    "error": "#cf222e",
    "other": "#d0d7de",
}
CELL = 10
"""Width of one run in the strips (pixels); the charts scroll when the window is long."""
TIMELINES = 30
"""Flaky tests drawn as timelines (the highest rates); the table lists them all."""


def _cell(x: int, y: int, colour: str, title: str, height: int = 14) -> str:
    return (
        f'<rect x="{x}" y="{y}" width="{CELL - 2}" height="{height}" fill="{colour}">'
        f"<title>{html.escape(title)}</title></rect>"
    )


def decisions_svg(runs: Sequence[RunRow]) -> str:
    """One square per run, oldest left: its decision's colour (grey: never decided)."""
    if not runs:
        return '<p class="muted">no runs</p>'
    width = CELL * len(runs)
    cells = [
        _cell(
            i * CELL,
            0,
            COLOURS[r.decision or "started"],
            f"{r.started_at} {r.run_id}: {r.decision or 'started, never decided'}",
        )
        for i, r in enumerate(runs)
    ]
    return f'<svg role="img" aria-label="decisions" width="{width}" height="16">{"".join(cells)}</svg>'


def duration_svg(runs: Sequence[RunRow]) -> str:
    """The suite's duration per decided run, oldest left, as bars from a common zero."""
    decided = [r for r in runs if r.duration_s is not None]
    if not decided:
        return '<p class="muted">no decided run</p>'
    top = max(r.duration_s or 0.0 for r in decided) or 1.0
    height, width = 120, CELL * len(decided)
    parts = [f'<svg role="img" aria-label="suite duration" width="{width + 60}" height="{height + 20}">']
    for i, r in enumerate(decided):
        h = max(1.0, height * (r.duration_s or 0.0) / top)
        parts.append(
            f'<rect x="{i * CELL}" y="{height - h:.1f}" width="{CELL - 2}" height="{h:.1f}" '
            f'fill="{COLOURS.get(r.decision or "started", "#0969da")}">'
            f"<title>{html.escape(f'{r.started_at} {r.run_id}: {r.duration_s:.1f} s')}</title></rect>"
        )
    parts.append(
        f'<text x="{width + 4}" y="12">{top:.0f} s</text><text x="{width + 4}" y="{height}">0 s</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _outcome_colour(outcome: str, retried: bool) -> str:
    if outcome == "passed":
        return COLOURS["retried" if retried else "passed"]
    return COLOURS.get(outcome, COLOURS["other"])


def timeline_svg(order: Sequence[str], cells: Sequence[tuple[str, str, str, bool]]) -> str:
    """A test's outcome in each run of the window (``order``: the runs' ids, oldest first)."""
    at = {run_id: i for i, run_id in enumerate(order)}
    parts = [f'<svg role="img" aria-label="timeline" width="{CELL * len(order)}" height="12">']
    for started_at, run_id, outcome, retried in cells:
        if run_id in at:
            label = (
                f"{started_at} {run_id}: {outcome}{' on a retry' if retried and outcome == 'passed' else ''}"
            )
            parts.append(_cell(at[run_id] * CELL, 0, _outcome_colour(outcome, retried), label, 10))
    parts.append("</svg>")
    return "".join(parts)


def _window_runs(store: Store, window: Window) -> list[RunRow]:
    runs = store.list_runs(branch=window.branch, since=window.since, limit=window.runs)
    return list(reversed(runs))


def history_html(store: Store, window: Window, tests: Sequence[FlakyTest]) -> str:
    e = html.escape
    runs = _window_runs(store, window)
    decided = [r.run_id for r in runs if r.state == "decided"]
    shown = list(tests[:TIMELINES])
    lines = timeline(store, window, [t.task_id for t in shown])
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.decision or "started"] = counts.get(r.decision or "started", 0) + 1
    legend = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    rows = []
    for t in tests:
        low, high = t.interval
        drawn = timeline_svg(decided, lines[t.task_id]) if t.task_id in lines else ""
        rows.append(
            f"<tr><td><code>{e(t.node_id)}</code><br>{drawn}</td><td>{t.rate:.1%}</td>"
            f"<td>{low:.1%} - {high:.1%}</td><td>{t.flaked}/{t.ran}</td><td>{t.retried}</td>"
            f"<td>{t.flipped}</td><td>{e(t.first_seen[:10])}</td><td>{e(t.last_seen[:10])}</td></tr>"
        )
    table = (
        "<table><tr><th>test (timeline: one cell a run, oldest left)</th><th>rate</th><th>95% interval</th>"
        "<th>flaked/ran</th><th>passed on retry</th><th>failed on a passing commit</th>"
        "<th>first seen</th><th>last seen</th></tr>" + "".join(rows) + "</table>"
        if tests
        else '<p class="muted">no flaky test in the window</p>'
    )
    where = f"branch <code>{e(window.branch)}</code>" if window.branch else "every branch"
    body = (
        f"<h1>Run history: {len(runs)} runs, {where}</h1>"
        f'<p class="muted">store <code>{e(store.url.shown)}</code>; oldest run left</p>'
        f"<h2>Decisions</h2><p>{e(legend)}</p>{decisions_svg(runs)}"
        f"<h2>Suite duration (decided runs)</h2>{duration_svg(runs)}"
        f"<h2>Flaky tests ({len(tests)})</h2>"
        '<p class="muted">rate = runs in which the test passed only on a retry or failed on a commit that '
        "another run passed / runs in which it ran to an outcome (passed, failed or error). Timeline: "
        "green passed, amber passed on a retry, red failed, grey another outcome.</p>"
        f"{table}"
    )
    return _page("dome run history", body)
