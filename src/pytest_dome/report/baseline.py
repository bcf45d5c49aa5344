"""A comparison with a baseline run, for people: one headline, plain lines (the
terminal, ``dome report``, ``dome diff``), Markdown and an HTML section, and JSON
for ``dome diff --json``. The comparison itself is ``core/comparison.py``; the
baseline run is read by ``runfolder/reader.py``.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ..core.escape import md_code, one_line

if TYPE_CHECKING:
    from ..core.comparison import Comparison

FIRST = 5
"""Tasks named per kind of change; the rest are counted."""


def _times(ratio: float) -> str:
    return f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.1f}".removesuffix(".0")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def headline(c: Comparison) -> str:
    """One line: "2 new failures, 1 task removed, 2 tasks up to 3x slower"."""
    parts = []
    if c.new_failures:
        parts.append(_count(len(c.new_failures), "new failure"))
    if c.known_failures:
        parts.append(_count(len(c.known_failures), "known failure"))
    if c.newly_flaky:
        parts.append(_count(len(c.newly_flaky), "newly flaky task"))
    if c.removed:
        parts.append(f"{_count(len(c.removed), 'task')} removed")
    if c.slower:
        most = _times(c.slower[0].ratio)
        parts.append(
            f"1 task {most}x slower" if len(c.slower) == 1 else f"{len(c.slower)} tasks up to {most}x slower"
        )
    if c.suite.slower and c.suite.median_ratio is not None:
        parts.append(f"suite {_times(c.suite.median_ratio)}x slower (median)")
    text = ", ".join(parts) or "nothing got worse"
    extra = [f"{len(c.fixed)} fixed"] * bool(c.fixed) + [f"{len(c.added)} added"] * bool(c.added)
    return text + (f" ({', '.join(extra)})" if extra else "")


def _kinds(c: Comparison) -> list[tuple[str, list[str]]]:
    """Each kind of change with the node ids of its tasks (slower: with durations)."""
    slower = [
        f"{c.name(s.task_id)} {s.before_s:.3g} s -> {s.after_s:.3g} s ({_times(s.ratio)}x)" for s in c.slower
    ]
    return [
        (label, names)
        for label, names in (
            ("new failures", [c.name(t) for t in c.new_failures]),
            ("known failures", [c.name(t) for t in c.known_failures]),
            ("newly flaky", [c.name(t) for t in c.newly_flaky]),
            ("removed", [c.name(t) for t in c.removed]),
            ("slower", slower),
            ("fixed", [c.name(t) for t in c.fixed]),
            ("added", [c.name(t) for t in c.added]),
        )
        if names
    ]


def _first(names: list[str], markdown: bool = False) -> str:
    """The first few node ids, each as the review shows one (control
    characters shown as ``\\xNN``; in Markdown, a code span that holds in a list)."""
    more = f" and {len(names) - FIRST} more" if len(names) > FIRST else ""
    return ", ".join((md_code if markdown else one_line)(n) for n in names[:FIRST]) + more


def _suite(c: Comparison) -> str:
    s = c.suite
    ratio = "n/a" if s.median_ratio is None else f"{s.median_ratio:.3g}"
    return (
        f"suite: {s.slower_tasks} of {s.tasks} measured tasks slower, median ratio {ratio}, "
        f"sign test p={float(s.p_value):.3g}" + (" (slower)" if s.slower else "")
    )


def lines(c: Comparison) -> list[str]:
    """The comparison as plain lines (the terminal, ``dome report``, ``dome diff``)."""
    out = [f"baseline: compared with run {c.baseline.run_id} ({c.baseline.gate_status}): {headline(c)}"]
    out += [f"  {label} ({len(names)}): {_first(names)}" for label, names in _kinds(c)]
    out.append(f"  {_suite(c)}")
    return out


def markdown(c: Comparison) -> list[str]:
    out = [
        "",
        f"**Compared with baseline run `{c.baseline.run_id}` ({c.baseline.gate_status})**: {headline(c)}",
        "",
    ]
    out += [f"- {label} ({len(names)}): " + _first(names, markdown=True) for label, names in _kinds(c)]
    out.append(f"- {_suite(c)}")
    return out


def html_section(c: Comparison) -> str:
    """The comparison as an HTML section: each kind's first few tasks, as in the
    text and Markdown."""
    e = html.escape

    def first(names: list[str]) -> str:
        more = [f"and {len(names) - FIRST} more"] if len(names) > FIRST else []
        return "<br>".join([*(f"<code>{e(n)}</code>" for n in names[:FIRST]), *more])

    rows = "".join(
        f"<tr><td>{e(label)} ({len(names)})</td><td>{first(names)}</td></tr>" for label, names in _kinds(c)
    )
    run = f"<code>{e(c.baseline.run_id)}</code> ({e(c.baseline.gate_status)})"
    return (
        f"<h2>Compared with baseline run {run}</h2>"
        f'<p id="baseline">{e(headline(c))}</p>'
        f"<table><tr><th>change</th><th>tasks</th></tr>{rows}</table><p>{e(_suite(c))}</p>"
    )


def as_json(c: Comparison, run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "baseline_run_id": c.baseline.run_id,
        "headline": headline(c),
        "worse": c.worse,
        "check": c.check().model_dump(mode="json"),
        "suite_median_ratio": c.suite.median_ratio,
        **{label.replace(" ", "_"): names for label, names in _kinds(c) if label != "slower"},
        "slower": [
            {"node_id": c.name(s.task_id), "before_s": s.before_s, "after_s": s.after_s, "ratio": s.ratio}
            for s in c.slower
        ],
    }
