"""The baseline of a gated run (``--dome-baseline=RUN``) and ``dome diff RUN_A RUN_B``.

A baseline is another complete run that verifies (``dome verify``); it is read
once, when the session is configured, into a summary (each planned task's
outcome, flakiness and duration), which the run records as
``inputs/baseline.summary.json`` and decides with. The comparison itself is
``comparison.py``; this module reads runs and shows comparisons to people.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.escape import md_code, one_line

if TYPE_CHECKING:  # imported where used: `dome` builds its parser with this module
    from ..contracts.models import BaselineSummary
    from ..core.comparison import Comparison, RecordedBaseline
    from .replay import RecordedRun

FIRST = 5
"""Tasks named per kind of change; the rest are counted."""


class BaselineError(ValueError):
    """A run that cannot be compared with: one line that says why."""


def open_run(source: str, runtime_dir: Path, where: str) -> RecordedRun:
    """The complete run at ``source`` (a folder, or a run id in ``runtime_dir``), verified."""
    from .audit import verify_run
    from .replay import RunReadError, find_run, load_run

    try:
        run_dir = find_run(source, runtime_dir)
    except RunReadError as exc:
        raise BaselineError(f"{where}: {exc}") from None
    problems = verify_run(run_dir)
    if problems:
        raise BaselineError(
            f"{where}: run {source} does not verify ({problems[0]}); give a run that `dome verify` accepts"
        )
    try:
        recorded = load_run(run_dir)
    except RunReadError as exc:  # changed since it verified
        raise BaselineError(f"{where}: {exc}") from None
    if recorded.gate is None:
        raise BaselineError(f"{where}: run {source} is a shard's partial run; give the merged run")
    return recorded


def summarize(recorded: RecordedRun) -> BaselineSummary:
    """What a run compared with ``recorded`` records of it."""
    from ..contracts.models import BaselineRun, BaselineSummary, BaselineTask

    gate, manifest = recorded.gate, recorded.manifest
    assert gate is not None  # open_run refuses a shard
    results = {r.task_id: r for r in recorded.results}
    tasks = []
    for task in recorded.evidence.plan.tasks:
        result = results.get(task.task_id)  # a run that verifies has one per planned task
        tasks.append(
            BaselineTask(
                task_id=task.task_id,
                node_id=task.node_id,
                outcome=result.outcome if result else "missing",
                flaky=result.flaky if result else False,
                duration_s=result.duration_s if result else 0.0,
            )
        )
    run = BaselineRun(
        run_id=manifest.run_id,
        gate_status=gate.status,
        decision_digest=gate.decision_digest,
        input_digest=manifest.input_digest,
        manifest_digest=manifest.manifest_digest,
    )
    return BaselineSummary(baseline=run, tasks=tuple(tasks))


def read_baseline(source: str, runtime_dir: Path, invocation_dir: Path) -> RecordedBaseline:
    """``--dome-baseline``: a run folder (relative to the invocation folder) or a run id."""
    from ..core.comparison import RecordedBaseline

    path = invocation_dir / source
    return RecordedBaseline.of(
        summarize(open_run(str(path) if path.is_dir() else source, runtime_dir, "--dome-baseline"))
    )


# --- for people -----------------------------------------------------------------


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
    """The first few node ids, each as the reviewer's summary shows one (control
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


# --- dome diff ------------------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    """``dome diff RUN_A RUN_B``: what got worse from A to B, under B's policy; exit 1
    when something did, 2 when a run cannot be read."""
    from ..core.comparison import RecordedBaseline

    runtime_dir = Path(args.runtime_dir)
    try:
        before = open_run(args.run_a, runtime_dir, "dome diff")
        after = open_run(args.run_b, runtime_dir, "dome diff")
    except BaselineError as exc:
        print(exc, file=sys.stderr)
        return 2
    comparison = after.evidence.comparison(RecordedBaseline.of(summarize(before)))
    assert comparison is not None
    if args.json:
        print(json.dumps(as_json(comparison, after.manifest.run_id), indent=2, sort_keys=True))
    else:
        first, *rest = lines(comparison)
        print(f"run {after.manifest.run_id} against {first.removeprefix('baseline: compared with ')}")
        print("\n".join(rest))
    return 1 if comparison.worse else 0


def add_diff_command(sub: Any, default_runtime: str) -> None:
    """Register ``dome diff`` (called by ``cli.build_parser``)."""
    p = sub.add_parser("diff", help="what got worse from run A to run B (new failures, removed, slower)")
    p.set_defaults(func=cmd_diff)
    p.add_argument("run_a", metavar="RUN_A", help="the baseline: a run folder, or a run id in --runtime-dir")
    p.add_argument("run_b", metavar="RUN_B", help="the run compared with it")
    p.add_argument("--runtime-dir", default=default_runtime, help="where run ids are looked up")
    p.add_argument("--json", action="store_true", help="machine-readable output")
