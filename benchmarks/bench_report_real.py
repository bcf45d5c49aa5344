"""The real suites' report (issue 22): dome beside the reporters users already run.

Per suite and mode, every variant against bare pytest of the same round: the wall
time ratio, the peak RSS and the CPU of the tree over bare's, and the CPU over bare
per test split by process (the deciding process, xdist's workers, dome's helpers);
then the targets of issue 22 (and the two of issue 13 that still say something).
Every figure is the median over rounds of that round's value.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import bench_variants
from bench_targets import target

if TYPE_CHECKING:
    from bench_harness import Suite

MODES = ("serial", "n2")
ROLES = ("deciding", "workers", "helpers", "other")
# Issue 22's targets, on tmpfs, serially and with -n 2:
MAX_DOME_OVER_JUNIT = 1.0  # wall, same round
MAX_RSS_OVER_JUNIT_MIB = 0.0  # dome's peak RSS over bare minus junitxml's
MAX_CPU_US = 80.0  # dome's added CPU per test, whole tree
MAX_DISK_MARGIN = 0.03  # dome-ext4 (fresh and replacing) / bare within this of the tmpfs ratio
MIN_ROUNDS = 5
MAX_HISTORY_RATIO = 1.01  # issue 23: dome-tmpfs (default SQLite store) / dome-nohistory, same round
# Issue 13's, kept: an absolute cap beside the relative ones.
MAX_WALL_RATIO_13 = 1.10
MAX_EXTRA_RSS_MIB_13 = 40.0


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def roles(run: dict[str, Any]) -> dict[str, float]:
    """A run's CPU seconds by process role (bench_proc.py says how each is measured)."""
    split = run.get("roles_cpu_s") or {}
    own = run.get("own_cpu_s")
    return {
        "deciding": run["cpu_s"] - sum(split.values()) if own is None else own,
        "workers": split.get("workers", 0.0),
        "helpers": split.get("helpers", 0.0),
        "other": split.get("other", 0.0) + split.get("unsampled", 0.0),
    }


def summarize(suite: Suite) -> dict[str, Any]:
    """Per mode: each variant's medians over rounds, against bare of the same round."""
    return {mode: _mode(suite, mode) for mode in MODES}


def _mode(suite: Suite, mode: str) -> dict[str, Any]:
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for r in suite.runs:
        if r["mode"] == mode:
            by_round.setdefault(r["round"], {})[r["config"]] = r
    rounds = list(by_round.values())

    def per_round(a: str, b: str, f: Callable[[Any, Any], float]) -> float | None:
        return _median([f(rd[a], rd[b]) for rd in rounds if a in rd and b in rd])

    configs: dict[str, Any] = {}
    for config in suite.configs:
        cell: dict[str, Any] = {
            "median_s": _median([rd[config]["wall_s"] for rd in rounds if config in rd]),
            "rss_mib": _median([rd[config]["maxrss_kib"] / 1024 for rd in rounds if config in rd]),
            "cpu_s": _median([rd[config]["cpu_s"] for rd in rounds if config in rd]),
            "wall_ratio": per_round(config, "bare", lambda x, y: x["wall_s"] / y["wall_s"]),
            "extra_rss_mib": per_round(
                config, "bare", lambda x, y: (x["maxrss_kib"] - y["maxrss_kib"]) / 1024
            ),
            "extra_tree_rss_mib": per_round(
                config,
                "bare",
                lambda x, y: ((x["tree_rss_peak_kib"] or 0) - (y["tree_rss_peak_kib"] or 0)) / 1024,
            ),
            "extra_cpu_s": per_round(config, "bare", lambda x, y: x["cpu_s"] - y["cpu_s"]),
            "cpu_us_per_test": {
                role: _median([roles(rd[config])[role] * 1e6 / suite.tests for rd in rounds if config in rd])
                for role in ROLES
            },
            "extra_cpu_us_per_test": {
                role: per_round(
                    config,
                    "bare",
                    lambda x, y, role=role: (roles(x)[role] - roles(y)[role]) * 1e6 / suite.tests,
                )
                for role in ROLES
            },
        }
        extra = cell["extra_cpu_s"]
        cell["extra_cpu_us_per_test"]["all"] = None if extra is None else extra * 1e6 / suite.tests
        configs[config] = cell
    dome = suite.dome
    out: dict[str, Any] = {
        "rounds": len(rounds),
        "all_ok": all(r["ok"] for r in suite.runs if r["mode"] == mode),
        "configs": configs,
        "dome/junit": per_round(dome, "junit", lambda x, y: x["wall_s"] / y["wall_s"]),
        "dome_rss_over_junit_mib": per_round(
            dome, "junit", lambda x, y: (x["maxrss_kib"] - y["maxrss_kib"]) / 1024
        ),
        "history": per_round(dome, "dome-nohistory", lambda x, y: x["wall_s"] / y["wall_s"]),
    }
    for disk in ("dome-disk", "dome-disk-replace"):
        out[f"{disk} - tmpfs"] = _median(
            [
                rd[disk]["wall_s"] / rd["bare"]["wall_s"] - rd[dome]["wall_s"] / rd["bare"]["wall_s"]
                for rd in rounds
                if disk in rd and dome in rd and "bare" in rd and dome != disk
            ]
        )
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(suites: list[Suite], summaries: dict[str, Any], disk_fs: str) -> list[str]:
    real = [s for s in suites if s.kind == "real"]
    if not real:
        return []
    head = (
        f"  {'variant':<22}{'wall/bare':>10}{'RSS+MiB':>9}{'tree+MiB':>9}{'CPU+ s':>8}"
        f"{'CPU+ us/test':>13}{'deciding':>9}{'workers':>8}{'helpers':>8}{'other':>7}"
    )
    lines = ["", "real suites: each variant over bare pytest of the same round (medians over rounds)"]
    for suite in real:
        for mode in MODES:
            c = summaries[suite.key][mode]
            bare = c["configs"]["bare"]
            per = bare["cpu_us_per_test"]
            lines += [
                "",
                f"{suite.key}, {'serial' if mode == 'serial' else '-n 2'}: {suite.tests} tests, "
                f"{c['rounds']} round(s){'' if c['all_ok'] else ', A RUN FAILED'}; bare "
                f"{_fmt(bare['median_s'], '.2f')} s, RSS {_fmt(bare['rss_mib'], '.0f')} MiB, CPU "
                f"{_fmt(bare['cpu_s'], '.2f')} s = {sum(v or 0 for v in per.values()):.0f} us/test "
                f"(deciding {_fmt(per['deciding'], '.0f')}, workers {_fmt(per['workers'], '.0f')}, "
                f"other {_fmt(per['other'], '.0f')})",
                head,
                "  " + "-" * (len(head) - 2),
            ]
            for config in suite.configs:
                if config == "bare":
                    continue
                x = c["configs"][config]
                us = x["extra_cpu_us_per_test"]
                lines.append(
                    f"  {bench_variants.shown(config, disk_fs):<22}{_fmt(x['wall_ratio'], '.3f'):>10}"
                    f"{_fmt(x['extra_rss_mib'], '+.0f'):>9}{_fmt(x['extra_tree_rss_mib'], '+.0f'):>9}"
                    f"{_fmt(x['extra_cpu_s'], '+.2f'):>8}{_fmt(us['all'], '+.0f'):>13}"
                    + "".join(f"{_fmt(us[r], '+.0f'):>{w}}" for r, w in zip(ROLES, (9, 8, 8, 7), strict=True))
                )
        info = suite.info
        versions = info.get("versions", {})
        ended = {
            re.sub(r" in [0-9.]+s.*$", "", r.get("outcome") or "")
            for r in suite.runs
            if r["config"] == "bare"
        }
        lines.append(
            f"  {suite.key}: {info.get('dist')} {info.get('version')} (sdist; pytest "
            f"{' '.join(info.get('args', []))}), pytest {versions.get('pytest')}, pytest-xdist "
            f"{versions.get('pytest-xdist')}, pytest-reportlog {versions.get('pytest-reportlog')}, "
            f"pytest-json-report {versions.get('pytest-json-report')}; bare runs ended: "
            f"{'; '.join(sorted(ended - {''})) or '-'}"
        )
    lines += [
        "wall/bare: median of per-round ratios; RSS+: peak RSS of the largest process over bare's;",
        "tree+: peak of the tree's summed RSS (sampled) over bare's; CPU+: user + system of the tree",
        "over bare's, and per test by process: deciding (the serial process or xdist's controller),",
        "workers (xdist's), helpers (dome's result writer), other (the sampling's error and the rest).",
        f"Outputs on tmpfs ({real[0].info.get('dome_tmpfs')}), removed after each run, untimed; "
        f"dome-{disk_fs}: run folders in the work folder, dome-{disk_fs}-replace replacing the run of "
        "the same id left there.",
    ]
    return lines


def targets(suites: list[Suite], summaries: dict[str, Any], disk_fs: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def add(issue: str, name: str, value: float | None, limit: float, note: str = "", op: str = "<=") -> None:
        found.append(target(issue, name, value, limit, op, note))

    for suite in suites:
        if suite.kind != "real":
            continue
        for mode in MODES:
            c = summaries[suite.key][mode]
            dome = c["configs"].get(suite.dome, {})
            n = c["rounds"]
            few = "" if n >= MIN_ROUNDS else f"{n} round(s): the issue asks the median of >= {MIN_ROUNDS}"
            failed = "" if c["all_ok"] else "a run failed"
            note = "; ".join(x for x in (few, failed) if x)
            shown = f"{suite.key}, {mode}"
            add(
                "22",
                f"{shown}: wall dome-tmpfs / junitxml, same round",
                c["dome/junit"],
                MAX_DOME_OVER_JUNIT,
                note,
            )
            add(
                "22",
                f"{shown}: peak RSS over bare, dome-tmpfs - junitxml (MiB)",
                c["dome_rss_over_junit_mib"],
                MAX_RSS_OVER_JUNIT_MIB,
                note,
            )
            us = dome.get("extra_cpu_us_per_test", {})
            add("22", f"{shown}: dome's added CPU per test, whole tree (us)", us.get("all"), MAX_CPU_US, note)
            for disk in ("dome-disk", "dome-disk-replace"):
                add(
                    "22",
                    f"{shown}: {bench_variants.shown(disk, disk_fs)}/bare - dome-tmpfs/bare",
                    c.get(f"{disk} - tmpfs"),
                    MAX_DISK_MARGIN,
                    note,
                )
            add(
                "23",
                f"{shown}: wall with the default SQLite history / without, same round",
                c.get("history"),
                MAX_HISTORY_RATIO,
                note,
            )
            add("13", f"{shown}: wall dome-tmpfs/bare", dome.get("wall_ratio"), MAX_WALL_RATIO_13, note)
            add(
                "13",
                f"{shown}: peak RSS dome-tmpfs - bare (MiB)",
                dome.get("extra_rss_mib"),
                MAX_EXTRA_RSS_MIB_13,
            )
        add("22", f"{suite.key}: method: rounds", suite.rounds, MIN_ROUNDS, op=">=")
    return found
