"""The benchmark's report: summaries of the rounds, the printed tables, the targets of
issue 7 with their verdicts, and what the JSON says about the machine and the checkout."""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench import Bench, Suite

REPO = Path(__file__).resolve().parent.parent
MODES = ("serial", "n2")

# The issue's targets.
MAX_WALL_RATIO = 1.05
MAX_EXTRA_RSS_MIB = 30.0
MAX_LINEAR_RATIO = 1.2
MAX_GATE_S = 1.0
MAX_VERIFY_S = 3.0
MAX_FANOUT_RATIO = 0.55
MAX_HARNESS_S = 600.0
MIN_PAIRS = 5


# --- summaries --------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(suite: Suite) -> dict[str, Any]:
    """Medians, per-round ratios and peak memory of one suite, per mode."""
    out: dict[str, Any] = {}
    for mode in MODES:
        by_round: dict[int, dict[str, dict[str, Any]]] = {}
        for r in suite.runs:
            if r["mode"] == mode:
                by_round.setdefault(r["round"], {})[r["config"]] = r
        ok = all(r["ok"] for r in suite.runs if r["mode"] == mode)
        cell: dict[str, Any] = {"rounds": len(by_round), "all_ok": ok}
        for config in suite.configs:
            walls = [rd[config]["wall_s"] for rd in by_round.values() if config in rd]
            rss = [rd[config]["maxrss_kib"] / 1024 for rd in by_round.values() if config in rd]
            cell[config] = {"median_s": _median(walls), "rss_mib": _median(rss), "walls_s": walls}

        def ratio(a: str, b: str, by_round: dict[int, dict[str, dict[str, Any]]] = by_round) -> float | None:
            return _median(
                [rd[a]["wall_s"] / rd[b]["wall_s"] for rd in by_round.values() if a in rd and b in rd]
            )

        if "dome" in suite.configs:
            cell["dome/bare"] = ratio("dome", "bare")
            overheads = [(rd["dome"]["wall_s"] - rd["bare"]["wall_s"]) for rd in by_round.values()]
            cell["dome_overhead_us_per_test"] = (
                _median(overheads) * 1e6 / suite.tests if overheads else None  # type: ignore[operator]
            )
            cell["dome_extra_rss_mib"] = _median(
                [(rd["dome"]["maxrss_kib"] - rd["bare"]["maxrss_kib"]) / 1024 for rd in by_round.values()]
            )
        if "junit" in suite.configs:
            cell["junit/bare"] = ratio("junit", "bare")
            cell["dome/junit"] = ratio("dome", "junit")
        out[mode] = cell
    if suite.kind == "sleep":
        rounds = sorted({r["round"] for r in suite.runs})
        for config in suite.configs:
            pairs = []
            for n in rounds:
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
        if passed is None and value is not None:
            passed = {"<=": value <= limit, "<": value < limit, ">=": value >= limit}[op]
        found.append({"target": name, "value": value, "limit": limit, "op": op, "pass": passed, "note": note})

    trivial = sorted((s for s in suites if s.kind == "trivial"), key=lambda s: s.tests)
    gated = trivial[1:] if len(trivial) > 1 else trivial
    for suite in gated:
        for mode in MODES:
            c = summaries[suite.key][mode]
            ok = "" if c["all_ok"] else "a run failed"
            add(f"wall dome/bare, {suite.tests} tests, {mode}", c.get("dome/bare"), MAX_WALL_RATIO, "<=", ok)
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
            add(
                f"fanout: dome -n 2 / serial, {suite.tests} x 20 ms",
                summaries[suite.key].get("dome n2/serial"),
                MAX_FANOUT_RATIO,
                "<=",
            )
    fewest = min((s.rounds for s in suites if not s.large), default=None)
    add(
        "method: rounds of every suite but the largest",
        fewest,
        MIN_PAIRS if not args.quick else args.pairs,
        ">=",
        f"budget-limited: {', '.join(bench.budget_limited) or 'none'}",
    )
    if not args.quick:
        add("harness wall time (s)", bench.elapsed(), MAX_HARNESS_S, "<")
    return found


def machine() -> dict[str, Any]:
    model = None
    memory = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pytest": version("pytest"),
        "pytest_xdist": version("pytest-xdist"),
        "pytest_dome": version("pytest-dome"),
    }


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip() or None,
        "src_tree": git("rev-parse", "--short", "HEAD:src").strip() or None,  # what the runs import
        "src_changes": changed,
        "src_diff_sha256": hashlib.sha256(git("diff", "HEAD", "--", "src").encode()).hexdigest()[:16],
    }
