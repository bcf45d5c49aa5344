"""Reports people read: the review of a decision (on the terminal, and as Markdown
for GitHub's step summary or ``dome report``) and self-contained HTML for a run
and for the SLO history. No external resources."""

from __future__ import annotations

import html
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..contracts import ssot
from ..contracts.models import (
    FAILING_OUTCOMES,
    GateDecision,
    PromotionDecision,
    VerifyCommandResult,
)
from ..core.aggregate import TaskResult
from ..core.escape import md_block, md_code, one_line, printable
from .baseline import html_section as baseline_html
from .baseline import lines as baseline_lines
from .baseline import markdown as baseline_markdown

if TYPE_CHECKING:
    from ..core.comparison import Comparison

TOP_FACTORS = 3
FIRST_TASKS = 5


class Review(NamedTuple):
    """What the reviewer's reports show of a decided run."""

    gate: GateDecision
    promotion: PromotionDecision
    results: Sequence[TaskResult]
    """The task results to show (a session: the failed and flaky ones only)."""
    verify: Sequence[VerifyCommandResult]
    """The verify commands as recorded in ``checks/verify.results.json``, in run order."""
    where: str
    baseline: Comparison | None = None
    """The comparison with the run's baseline (a run with one)."""


def _meaning(code: str) -> str:
    entry = ssot.reason_catalog().get(code)
    return entry["meaning"] if entry else ""


def command_line(c: VerifyCommandResult) -> str:
    """A verify command as a shell would read it, on one line (its argv is recorded redacted)."""
    return one_line(shlex.join(c.argv))


def shows_output(c: VerifyCommandResult) -> bool:
    """A command that did not pass shows the tail of its output (a not-run one has none)."""
    return c.status not in ("passed", "not_run") and bool(c.output_tail.strip())


def output_lines(c: VerifyCommandResult) -> list[str]:
    """The recorded (redacted) output tail of a command, as lines."""
    return printable(c.output_tail.rstrip()).splitlines()


def exit_code(c: VerifyCommandResult) -> str:
    return "-" if c.exit_code is None else str(c.exit_code)


def _troubled(results: Sequence[TaskResult]) -> tuple[list[TaskResult], list[TaskResult]]:
    failed = [r for r in results if r.outcome in FAILING_OUTCOMES]
    flaky = [r for r in results if r.flaky]
    return sorted(failed, key=lambda r: r.task_id), sorted(flaky, key=lambda r: r.task_id)


def _shielded(gate: GateDecision) -> frozenset[str]:
    """The task ids of the failures a quarantine shielded (still failures, labelled)."""
    return frozenset(gate.checks.quarantine.failures) if gate.checks.quarantine else frozenset()


def _label(r: TaskResult, shielded: frozenset[str]) -> str:
    return f"{r.node_id} (quarantined)" if r.task_id in shielded else r.node_id


def quarantine_line(gate: GateDecision) -> str | None:
    """The quarantine's line of the review: what it shielded, what expired, what matches nothing."""
    q = gate.checks.quarantine
    if q is None:
        return None
    head = f"{q.entries} entries as of {q.as_of}, {q.quarantined} tasks quarantined"
    parts = [f"{head}, {len(q.failures)} of them failed"]
    parts += [f"expired (shield nothing): {', '.join(q.expired)}"] if q.expired else []
    parts += [f"matching no task: {', '.join(q.unmatched)}"] if q.unmatched else []
    return one_line("quarantine: " + "; ".join(parts))


def review_lines(review: Review) -> list[str]:
    """The review as plain lines: decision, score and its top factors,
    failed and flaky tasks (first few), the verify commands (with the output tail of
    each that did not pass), reason codes with their meanings, evidence."""
    gate, promotion, results, verify, where, baseline = review
    lines = [f"decision: {gate.status}  (promotion: {promotion.action})"]
    top = sorted((f for f in gate.risk.factors if f.contribution), key=lambda f: -f.contribution)
    factors = ", ".join(f"{f.name} {f.contribution:g}" for f in top[:TOP_FACTORS])
    lines.append(
        f"risk score: {gate.risk.score:g} against threshold {gate.risk.threshold:g}"
        + (f" (top factors: {factors})" if factors else "")
    )
    failed, flaky = _troubled(results)
    shielded = _shielded(gate)
    for label, tasks in (("failed", failed), ("flaky", flaky)):
        if tasks:
            shown = ", ".join(_label(r, shielded) for r in tasks[:FIRST_TASKS])
            more = f" and {len(tasks) - FIRST_TASKS} more" if len(tasks) > FIRST_TASKS else ""
            lines.append(printable(f"{label} tasks ({len(tasks)}): {shown}{more}"))
    quarantine = quarantine_line(gate)
    lines += [quarantine] if quarantine else []
    if verify:
        lines.append(f"verify commands ({len(verify)}):")
    for c in verify:
        output = ", output tail:" if shows_output(c) else ""
        code = "no exit code" if c.exit_code is None else f"exit code {c.exit_code}"
        lines.append(f"  {c.status}: {command_line(c)} ({code}, {c.duration_s:.2f} s){output}")
        if output:
            lines += [f"    {line}" if line else "" for line in output_lines(c)]
    lines += baseline_lines(baseline) if baseline else []
    lines.append("reason codes:")
    lines += [f"  {code}: {_meaning(code)}" for code in gate.reason_codes]
    lines.append(f"evidence: {where}")
    return lines


def review_markdown(review: Review) -> str:
    """The review as Markdown (for ``$GITHUB_STEP_SUMMARY`` and ``dome report --markdown``)."""
    gate, promotion, results, verify, where, baseline = review
    icon = {"APPROVE": "✅", "NEEDS_HUMAN": "⏸️", "REJECT": "⛔"}[gate.status]
    out = [
        f"## {icon} dome release gate: {gate.status} (promotion: {promotion.action})",
        "",
        f"Risk score **{gate.risk.score:g}** against threshold **{gate.risk.threshold:g}**.",
        "",
        "| factor | weight | value | contribution |",
        "|---|---:|---:|---:|",
    ]
    out += [
        f"| {f.name} | {f.weight:g} | {f.value:g} | {f.contribution:g} |"
        for f in gate.risk.factors
        if f.contribution
    ]
    failed, flaky = _troubled(results)
    shielded = _shielded(gate)
    for label, tasks in (("Failed", failed), ("Flaky", flaky)):
        if tasks:
            out += ["", f"**{label} tasks ({len(tasks)})**", ""]
            out += [
                f"- {md_code(r.node_id)}{' (quarantined)' if r.task_id in shielded else ''}: "
                f"{md_code(r.summary.splitlines()[0]) if r.summary else ''}"
                for r in tasks[:FIRST_TASKS]
            ]
    quarantine = quarantine_line(gate)
    out += ["", md_code(quarantine)] if quarantine else []
    if verify:
        out += ["", f"**Verify commands ({len(verify)})**", ""]
        out += ["| command | status | exit code | duration |", "|---|---|---:|---:|"]
        out += [
            f"| {md_code(command_line(c))} | {c.status} | {exit_code(c)} | {c.duration_s:.2f} s |"
            for c in verify
        ]
        for c in filter(shows_output, verify):
            out += ["", f"Output tail of {md_code(command_line(c))} ({c.status}):", ""]
            out += md_block(output_lines(c))
    out += baseline_markdown(baseline) if baseline else []
    out += ["", "| reason code | meaning |", "|---|---|"]
    out += [f"| `{code}` | {_meaning(code)} |" for code in gate.reason_codes]
    out += ["", f"Evidence: `{where}`", ""]
    return "\n".join(out)


# --- HTML -------------------------------------------------------------------

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:980px;
color:#1b1f24;padding:0 1rem}h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:2rem}
.badge{display:inline-block;padding:.2rem .7rem;border-radius:.4rem;color:#fff;font-weight:700}
.APPROVE{background:#1a7f37}.NEEDS_HUMAN{background:#9a6700}.REJECT{background:#cf222e}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}code{font-size:.9em}
.failed,.error,.missing,.timeout,.not_run{color:#cf222e;font-weight:600}.flaky{color:#9a6700;font-weight:600}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.5rem;margin:0;font-size:.85em}
svg text{font:12px system-ui,sans-serif}.muted{color:#57606a}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{html.escape(title)}'
        f"</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def _bars(items: Sequence[tuple[str, float]], maximum: float, unit: str = "") -> str:
    """A horizontal bar chart as inline SVG."""
    if not items:
        return '<p class="muted">nothing to draw</p>'
    row, width = 24, 520
    height = row * len(items) + 10
    parts = [f'<svg role="img" width="{width + 260}" height="{height}" viewBox="0 0 {width + 260} {height}">']
    for i, (label, value) in enumerate(items):
        w = 0 if maximum <= 0 else max(1.0, width * value / maximum)
        y = i * row + 4
        parts.append(f'<text x="0" y="{y + 14}">{html.escape(label)}</text>')
        parts.append(f'<rect x="200" y="{y}" width="{w:.1f}" height="16" fill="#0969da"/>')
        parts.append(f'<text x="{205 + w:.1f}" y="{y + 13}">{value:g}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _verify_html(verify: Sequence[VerifyCommandResult]) -> str:
    e = html.escape
    if not verify:
        return '<p class="muted">No verify command is configured.</p>'
    rows = []
    for c in verify:
        rows.append(
            f'<tr><td><code>{e(command_line(c))}</code></td><td class="{e(c.status)}">{e(c.status)}</td>'
            f"<td>{exit_code(c)}</td><td>{c.duration_s:.2f} s</td></tr>"
        )
        if shows_output(c):
            tail = e("\n".join(output_lines(c)))
            rows.append(f'<tr><td colspan="4">output tail:<pre>{tail}</pre></td></tr>')
    return (
        "<table><tr><th>command</th><th>status</th><th>exit code</th><th>duration</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def run_html(review: Review) -> str:
    e = html.escape
    gate, promotion, results, verify, where, baseline = review
    failed, flaky = _troubled(results)
    order = {id(r): i for i, r in enumerate([*failed, *[f for f in flaky if f not in failed]])}
    tasks = sorted(results, key=lambda r: (order.get(id(r), len(order)), r.task_id))

    shielded = _shielded(gate)
    quarantine = quarantine_line(gate)

    def outcome(r: TaskResult) -> str:
        extra = (" flaky", " (flaky)") if r.flaky else ("", "")
        if r.task_id in shielded:
            extra = (extra[0], extra[1] + " (quarantined)")
        return f'<td class="{e(r.outcome)}{extra[0]}">{e(r.outcome)}{extra[1]}</td>'

    rows = "".join(
        f"<tr><td><code>{e(r.node_id)}</code></td>{outcome(r)}"
        f"<td>{len(r.attempts)}</td><td>{e((r.summary or '')[:300])}</td></tr>"
        for r in tasks
    )
    codes = "".join(
        f"<tr><td><code>{e(c)}</code></td><td>{e(_meaning(c))}</td></tr>" for c in gate.reason_codes
    )
    override = (
        f"<p>Overridden by <strong>{e(promotion.override.actor)}</strong> at {e(promotion.override.at)}: "
        f"{e(promotion.override.reason)}</p>"
        if promotion.override
        else '<p class="muted">No override.</p>'
    )
    chart = _bars([(f.name, f.contribution) for f in gate.risk.factors], 100)
    body = (
        f"<h1>Release gate: run <code>{e(gate.run_id)}</code></h1>"
        f'<p id="decision"><span class="badge {e(gate.status)}">{e(gate.status)}</span> '
        f"promotion: <strong>{e(promotion.action)}</strong></p>"
        f"<p>Risk score <strong>{gate.risk.score:g}</strong> against threshold "
        f"<strong>{gate.risk.threshold:g}</strong> (policy <code>{e(gate.risk.policy_id)}</code>).</p>"
        f"<h2>Risk factors (contribution to the score)</h2>{chart}"
        f"<h2>Verify commands ({len(verify)})</h2>{_verify_html(verify)}"
        + (baseline_html(baseline) if baseline else "")
        + (f"<h2>Quarantine</h2><p>{e(quarantine)}</p>" if quarantine else "")
        + f"<h2>Reason codes</h2><table><tr><th>code</th><th>meaning</th></tr>{codes}</table>"
        f"<h2>Human override</h2>{override}"
        f"<h2>Tasks ({len(results)}; failed {len(failed)}, flaky {len(flaky)})</h2>"
        f"<table><tr><th>task</th><th>outcome</th><th>attempts</th><th>summary</th></tr>{rows}</table>"
        f'<p class="muted">decision digest <code>{e(gate.decision_digest)}</code>, input digest '
        f"<code>{e(gate.input_digest)}</code>; evidence <code>{e(where)}</code></p>"
    )
    return _page(f"dome {gate.status} {gate.run_id}", body)


def slo_html(report: dict[str, Any], runtime_dir: Path | str) -> str:
    from .slo import shown_target, shown_value

    e = html.escape
    sections = []
    for s in report["slos"]:
        daily = report.get("daily", {}).get(s["slo"], {})
        items = [(day, value) for day, value in sorted(daily.items())]
        unit = "" if s["slo"] == "SLO-4" else "%"
        scale = max([v for _, v in items] + [1]) if s["slo"] == "SLO-4" else 100
        sections.append(
            f"<h2>{e(s['slo'])}: {e(s['title'])}</h2>"
            + {
                True: '<p><span class="badge APPROVE">met</span> ',
                False: '<p><span class="badge REJECT">missed</span> ',
                None: '<p><span class="badge NEEDS_HUMAN">not provable here</span> ',
            }[s["met"]]
            + f"value {e(shown_value(s))}, target {e(shown_target(s['slo'], s['target']))}, "
            f"runs counted {s['counted']}"
            + (f"; missed: {e(', '.join(s['missed_runs']))}" if s["missed_runs"] else "")
            + (f"<br>{e(s['store_note'])}" if s.get("store_note") else "")
            + "</p>"
            + _bars([(d, v * (1 if s["slo"] == "SLO-4" else 100)) for d, v in items], scale, unit)
        )
    body = (
        f"<h1>SLOs for {e(report['month'])}</h1>"
        f'<p id="decision">{report["runs"]} runs in <code>{e(str(runtime_dir))}</code>: '
        f"<strong>{'all SLOs met' if report['met'] else 'an SLO was missed'}</strong></p>" + "".join(sections)
    )
    return _page(f"dome SLOs {report['month']}", body)
