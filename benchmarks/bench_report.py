"""The benchmark's report of the generated suites and the core: summaries of the rounds,
the printed table and the targets of issue 7 with their verdicts (the real suites':
bench_report_real.py; the machine and the checkout: bench_machine.py)."""

from __future__ import annotations

import argparse
import statistics
from typing import TYPE_CHECKING, Any

from bench_targets import target

if TYPE_CHECKING:
    from bench_harness import Bench, Suite

MODES = ("serial", "n2")

# The issue's targets.
MAX_WALL_RATIO = 1.05  # the aim for the trivial suites
MAX_EXTRA_RSS_MIB = 30.0
MAX_LINEAR_RATIO = 1.2
MAX_GATE_S = 1.0
MAX_VERIFY_S = 3.0
MAX_FANOUT_MARGIN = 0.03  # dome's (-n 2 / serial) at most bare's + this, in the same run
MAX_HARNESS_S = 1800.0
MIN_PAIRS = 5
MIN_LARGE_PAIRS = 3

# Wall ratios a suite's summary gives, where it has both configurations.
RATIOS = (("junit", "bare"), ("dome", "bare"), ("dome", "junit"))


# --- summaries --------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(suite: Suite) -> dict[str, Any]:
    """Medians, per-round ratios, peak memory and CPU of one generated suite, per mode.
    The overhead, CPU and memory differences compare dome with bare."""
    out: dict[str, Any] = {}
    for mode in MODES:
        by_round: dict[int, dict[str, dict[str, Any]]] = {}
        for r in suite.runs:
            if r["mode"] == mode:
                by_round.setdefault(r["round"], {})[r["config"]] = r
        rounds = list(by_round.values())
        ok = all(r["ok"] for r in suite.runs if r["mode"] == mode)
        cell: dict[str, Any] = {"rounds": len(by_round), "all_ok": ok}
        for config in suite.configs:
            walls = [rd[config]["wall_s"] for rd in rounds if config in rd]
            rss = [rd[config]["maxrss_kib"] / 1024 for rd in rounds if config in rd]
            cpu = [rd[config]["cpu_s"] for rd in rounds if config in rd]
            cell[config] = {
                "median_s": _median(walls),
                "rss_mib": _median(rss),
                "cpu_s": _median(cpu),
                "walls_s": walls,
            }

        def per_round(
            a: str, b: str, f: Any, rounds: list[dict[str, dict[str, Any]]] = rounds
        ) -> float | None:
            return _median([f(rd[a], rd[b]) for rd in rounds if a in rd and b in rd])

        for a, b in RATIOS:
            if a in suite.configs and b in suite.configs:
                cell[f"{a}/{b}"] = per_round(a, b, lambda x, y: x["wall_s"] / y["wall_s"])
        dome = suite.dome
        if dome in suite.configs:
            overhead = per_round(dome, "bare", lambda x, y: x["wall_s"] - y["wall_s"])
            cpu_delta = per_round(dome, "bare", lambda x, y: x["cpu_s"] - y["cpu_s"])
            cell["dome_overhead_us_per_test"] = None if overhead is None else overhead * 1e6 / suite.tests
            cell["dome_cpu_us_per_test"] = None if cpu_delta is None else cpu_delta * 1e6 / suite.tests
            cell["dome_extra_rss_mib"] = per_round(
                dome, "bare", lambda x, y: (x["maxrss_kib"] - y["maxrss_kib"]) / 1024
            )
        out[mode] = cell
    if suite.kind == "sleep":
        numbers = sorted({r["round"] for r in suite.runs})
        for config in suite.configs:
            pairs = []
            for n in numbers:
                got = {
                    r["mode"]: r["wall_s"] for r in suite.runs if r["round"] == n and r["config"] == config
                }
                if "serial" in got and "n2" in got:
                    pairs.append(got["n2"] / got["serial"])
            out[f"{config} n2/serial"] = _median(pairs)
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(suites: list[Suite], summaries: dict[str, Any]) -> list[str]:
    suites = [s for s in suites if s.kind != "real"]  # bench_report_real.py
    if not suites:
        return []
    head = (
        f"{'suite':<16}{'mode':<7}{'tests':>7}{'rounds':>7}{'bare s':>9}{'junit s':>9}{'dome s':>9}"
        f"{'junit/bare':>11}{'dome/bare':>10}{'dome/junit':>11}{'dome us/test':>13}"
        f"{'RSS bare':>10}{'RSS junit':>10}{'RSS dome':>10}"
    )
    lines = [head, "-" * len(head)]
    for suite in suites:
        summary = summaries[suite.key]
        for mode in MODES:
            c = summary[mode]

            def med(config: str, key: str = "median_s", c: dict[str, Any] = c) -> float | None:
                return c[config][key] if config in c else None

            flag = "" if c["all_ok"] else " !"
            lines.append(
                f"{suite.key:<16}{mode:<7}{suite.tests:>7}{c['rounds']:>7}"
                f"{_fmt(med('bare'), '.2f'):>9}{_fmt(med('junit'), '.2f'):>9}{_fmt(med('dome'), '.2f'):>9}"
                f"{_fmt(c.get('junit/bare'), '.3f'):>11}{_fmt(c.get('dome/bare'), '.3f'):>10}"
                f"{_fmt(c.get('dome/junit'), '.3f'):>11}{_fmt(c.get('dome_overhead_us_per_test'), '.0f'):>13}"
                f"{_fmt(med('bare', 'rss_mib'), '.0f'):>10}{_fmt(med('junit', 'rss_mib'), '.0f'):>10}"
                f"{_fmt(med('dome', 'rss_mib'), '.0f'):>10}{flag}"
            )
        if suite.kind == "sleep":
            lines.append(
                f"{'':<16}-n 2 / serial: bare {_fmt(summary.get('bare n2/serial'), '.3f')}, "
                f"dome {_fmt(summary.get('dome n2/serial'), '.3f')}"
            )
    lines.append("times: median wall seconds of whole processes; ratios: median of per-round ratios;")
    lines.append(
        "dome us/test: median (dome - bare) per round / tests; RSS: MiB, largest process of the tree"
    )
    return lines


def core_lines(core: dict[str, Any]) -> list[str]:
    gate, written, verify, replay = core["gate_promotion"], core["write_run"], core["verify"], core["replay"]

    def command(name: str, c: dict[str, Any]) -> str:
        return (
            f"core: dome {name} of it: {c['median_s']:.2f} s "
            f"(runs {len(c['times_s'])}, peak RSS {c['maxrss_kib'] / 1024:.0f} MiB)"
        )

    return [
        "",
        f"core: gate + promotion of {gate['tasks']} task results: "
        f"{gate['median_s']:.3f} s (median of {gate['repeats']})",
        f"core: write_run of a {written['tasks']}-task run (untimed by the targets): "
        f"{written['write_run_s']:.2f} s",
        command("verify", verify),
        command("replay", replay),
        f"core: `python -m pytest_dome --help` (startup): {core['cli_startup']['median_s']:.2f} s",
    ]


def targets(
    suites: list[Suite],
    summaries: dict[str, Any],
    core: dict[str, Any] | None,
    args: argparse.Namespace,
    bench: Bench,
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def add(
        name: str, value: float | None, limit: float, op: str, note: str = "", passed: bool | None = None
    ) -> None:
        found.append(target("7", name, value, limit, op, note, passed))

    trivial = sorted((s for s in suites if s.kind == "trivial"), key=lambda s: s.tests)
    gated = trivial[1:] if len(trivial) > 1 else trivial
    for suite in gated:
        for mode in MODES:
            c = summaries[suite.key][mode]
            ok = "" if c["all_ok"] else "a run failed"
            name = f"wall dome/bare (aim), {suite.tests} tests, {mode}"
            add(name, c.get("dome/bare"), MAX_WALL_RATIO, "<=", ok)
            add(f"wall dome/junitxml, {suite.tests} tests, {mode}", c.get("dome/junit"), 1.0, "<", ok)
    if len(trivial) > 1:
        big, small = trivial[-1], trivial[0]
        for mode in MODES:
            add(
                f"peak RSS dome - bare (MiB), {big.tests} tests, {mode}",
                summaries[big.key][mode].get("dome_extra_rss_mib"),
                MAX_EXTRA_RSS_MIB,
                "<=",
            )
        for mode in MODES:
            hi = summaries[big.key][mode].get("dome_overhead_us_per_test")
            lo = summaries[small.key][mode].get("dome_overhead_us_per_test")
            value = passed = None
            note = f"{_fmt(hi, '.0f')} us/test at {big.tests}, {_fmt(lo, '.0f')} us/test at {small.tests}"
            if hi is not None and lo is not None:
                if lo > 0:
                    value = hi / lo
                else:  # no measurable overhead at the small size: linear only if none at the large
                    passed = hi <= 0
                    note += " (no overhead at the small size)"
            add(
                f"linear: overhead/test {big.tests} vs {small.tests}, {mode}",
                value,
                MAX_LINEAR_RATIO,
                "<=",
                note,
                passed,
            )
    if core is not None:
        add(
            f"gate + promotion, {core['gate_promotion']['tasks']} task results (s)",
            core["gate_promotion"]["median_s"],
            MAX_GATE_S,
            "<",
        )
        add(
            f"dome verify, {core['verify']['tasks']}-task run (s)",
            core["verify"]["median_s"] if core["verify"]["returncode"] == 0 else None,
            MAX_VERIFY_S,
            "<",
        )
    for suite in suites:
        if suite.kind == "sleep":
            bare = summaries[suite.key].get("bare n2/serial")
            dome = summaries[suite.key].get("dome n2/serial")
            add(
                f"fanout: dome (-n 2 / serial) <= bare's + {MAX_FANOUT_MARGIN:g}, "
                f"{suite.tests} x {args.sleep_ms} ms",
                dome,
                float("nan") if bare is None else bare + MAX_FANOUT_MARGIN,
                "<=",
                f"bare's -n 2 / serial {_fmt(bare, '.3f')}",
                None if bare is None or dome is None else dome <= bare + MAX_FANOUT_MARGIN,
            )
    others = [s for s in suites if not s.large and s.kind != "real"]  # real: bench_report_real.py
    limited = f"budget-limited: {', '.join(bench.budget_limited) or 'none'}"
    if others:
        add(
            "method: rounds of every generated suite but the largest",
            min(s.rounds for s in others),
            min(s.want for s in others) if args.quick else MIN_PAIRS,
            ">=",
            limited,
        )
    large = [s for s in suites if s.large]
    if large and not args.quick:
        add("method: rounds of the largest suite", large[0].rounds, MIN_LARGE_PAIRS, ">=", limited)
    if not args.quick:
        add("harness wall time (s)", bench.elapsed(), MAX_HARNESS_S, "<")
    return found
