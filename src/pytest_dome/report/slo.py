"""``dome slo``: the seed's four SLOs over the runs of a runtime folder, for a month.

SLO-1 availability: runs with a terminal gate decision / runs started (a run
that left only its run.started.json record counts as started, not decided).
SLO-2 determinism: replayed runs with the same gate status / replayed runs.
SLO-3 evidence completeness: approved runs whose evidence verifies / approved runs.
SLO-4 safety: secrets found in evidence (scanned with the redactor's patterns)
plus paths escaping a run folder: must be 0.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contracts import reasons as rc
from ..core.redact import Redactor
from ..runfolder.audit import verify_run
from ..runfolder.layout import MANIFEST, STARTED
from ..runfolder.reader import RunReadError, load_run, manifest_or_none, read_document
from ..runfolder.replay import replay
from ..runfolder.safejson import LIMITS, read_file

TARGETS = {"SLO-1": 0.999, "SLO-2": 0.99, "SLO-3": 1.0, "SLO-4": 0}
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


class SloError(ValueError):
    """The runtime folder or the month cannot be read: one line per problem."""


@dataclass(frozen=True)
class RunEntry:
    name: str
    path: Path
    started_at: str
    manifest: dict[str, Any] | None


def check_month(month: str) -> str:
    if not MONTH.fullmatch(month):
        raise SloError(f"--month {month!r} is not a month; give YYYY-MM, e.g. --month 2026-11")
    return month


def _read(run_dir: Path, relative: str) -> dict[str, Any]:
    """The manifest or start record of a run, parsed (its schema is ``dome verify``'s
    business: a run whose evidence is broken still counts, as not verified)."""
    try:
        doc = read_document(run_dir, relative, schema=False)
    except RunReadError as exc:
        raise SloError(str(exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("started_at"), str):
        raise SloError(f"{run_dir}: {relative}: not a dome record (no started_at)")
    return doc


def scan_runs(runtime_dir: Path) -> tuple[list[RunEntry], list[str]]:
    """Every run folder, and one line per entry that is not one (dotfiles are dome's own)."""
    if not runtime_dir.is_dir():
        raise SloError(f"{runtime_dir} is not a folder; give a runtime folder (e.g. ops/runtime/runs)")
    runs, problems = [], []
    for path in sorted(runtime_dir.iterdir()):
        if path.name.startswith("."):
            continue  # locks and replaced runs
        try:
            if (path / MANIFEST).is_file():
                manifest = _read(path, MANIFEST)
                runs.append(RunEntry(path.name, path, manifest["started_at"], manifest))
            elif (path / STARTED).is_file():
                runs.append(RunEntry(path.name, path, _read(path, STARTED)["started_at"], None))
            else:
                problems.append(f"{path}: not a run folder (no {MANIFEST} or {STARTED})")
        except SloError as exc:
            problems.append(str(exc))
    return runs, problems


def _ratio(good: int, total: int) -> float | None:
    return round(good / total, 6) if total else None


def _slo(name: str, title: str, good: int, total: int, missed: list[str]) -> dict[str, Any]:
    value = _ratio(good, total)
    return {
        "slo": name,
        "title": title,
        "target": TARGETS[name],
        "value": value,
        "counted": total,
        "good": good,
        "met": value is None or value >= TARGETS[name],
        "missed_runs": missed,
    }


SCAN_LIMIT = max(LIMITS.values())


def _secret_findings(run: Path, redactor: Redactor) -> int:
    """Secrets found in the files of a run folder, plus one for each file that cannot
    be scanned (a FIFO, a device, one larger than any artifact): what is not read is
    not known to be free of secrets. Links are not followed (``_escapes`` counts
    those that lead out)."""
    found = 0
    for root, _dirs, files in os.walk(run):
        for name in files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            before = sum(redactor.counts.values())
            try:
                data = read_file(path, SCAN_LIMIT)
            except FileNotFoundError:
                continue
            except (OSError, ValueError):
                found += 1
                continue
            redactor.redact(data.decode("utf-8", errors="replace"))
            found += sum(redactor.counts.values()) - before
    return found


def _escapes(run: Path) -> int:
    root = run.resolve()
    count = 0
    for path in run.rglob("*"):
        if path.is_symlink() and root not in path.resolve().parents:
            count += 1
    return count + sum(1 for p in verify_run(run, replay_decision=False) if p.code == rc.EVIDENCE_PATH_ESCAPE)


@dataclass(frozen=True)
class RunFacts:
    """What the four SLOs need to know of one run."""

    name: str
    day: str
    decided: bool
    replayed_same: bool | None  # None: not replayed (no decision, or evidence unreadable)
    replayable: bool
    approved: bool
    verified: bool
    violations: int


def _facts(run: RunEntry, redactor: Redactor) -> RunFacts:
    decided = run.manifest is not None and bool(run.manifest.get("gate_status"))
    same: bool | None = None
    replayable = True
    if decided:
        try:
            same = replay(load_run(run.path)).same_status
        except RunReadError:  # tampered or broken evidence: SLO-3/verify's business
            replayable = False
    approved = decided and run.manifest is not None and run.manifest["gate_status"] == "APPROVE"
    return RunFacts(
        name=run.name,
        day=run.started_at[:10],
        decided=decided,
        replayed_same=same,
        replayable=replayable,
        approved=approved,
        verified=approved and not verify_run(run.path),
        violations=_secret_findings(run.path, redactor) + _escapes(run.path),
    )


def _slos(facts: list[RunFacts], redactor: Redactor | None = None) -> list[dict[str, Any]]:
    replayed = [f for f in facts if f.replayed_same is not None]
    approved = [f for f in facts if f.approved]
    bad = [f.name for f in facts if f.violations]
    violations = sum(f.violations for f in facts)
    slo4: dict[str, Any] = {
        "slo": "SLO-4",
        "title": "safety: secrets found in evidence + path escapes (must be 0)",
        "target": 0,
        "value": violations,
        "counted": len(facts),
        "good": len(facts) - len(bad),
        "met": violations == 0,
        "missed_runs": bad,
    }
    if redactor is not None:
        slo4["by_kind"] = dict(sorted(redactor.counts.items()))
    slo2 = _slo(
        "SLO-2",
        "determinism: replayed runs with the same gate status / replayed runs",
        sum(bool(f.replayed_same) for f in replayed),
        len(replayed),
        [f.name for f in replayed if not f.replayed_same],
    )
    slo2["not_replayable"] = [f.name for f in facts if not f.replayable]
    return [
        _slo(
            "SLO-1",
            "availability: runs with a terminal gate decision / runs started",
            sum(f.decided for f in facts),
            len(facts),
            [f.name for f in facts if not f.decided],
        ),
        slo2,
        _slo(
            "SLO-3",
            "evidence completeness: approved runs that verify / approved runs",
            sum(f.verified for f in approved),
            len(approved),
            [f.name for f in approved if not f.verified],
        ),
        slo4,
    ]


def compute(runtime_dir: Path, month: str) -> dict[str, Any]:
    runs, problems = scan_runs(runtime_dir)
    if problems:
        raise SloError("\n".join(problems))
    # A shard's partial run is not a run of its own: its merged run is.
    runs = [
        r
        for r in runs
        if r.started_at.startswith(month) and (r.manifest is None or r.manifest.get("state") != "partial")
    ]
    redactor = Redactor()
    facts = [_facts(r, redactor) for r in runs]
    slos = _slos(facts, redactor)
    daily: dict[str, dict[str, float]] = {s["slo"]: {} for s in slos}
    for day in sorted({f.day for f in facts}):
        for s in _slos([f for f in facts if f.day == day]):
            if s["value"] is not None:
                daily[s["slo"]][day] = s["value"]
    return {
        "kind": "slo.report",
        "month": month,
        "runtime_dir": str(runtime_dir),
        "runs": len(runs),
        "met": all(s["met"] for s in slos),
        "slos": slos,
        "daily": daily,
    }


def shown_value(s: dict[str, Any]) -> str:
    """An SLO's value as people read it: a percentage (SLO-4: a count of violations)."""
    if s["slo"] == "SLO-4":
        return f"{s['value']} violations"
    if s["value"] is None:
        return "not known" if s["met"] is None else "no runs"
    return f"{s['value']:.2%}"


def shown_target(name: str, target: float) -> str:
    """An SLO's target in the unit of its value: a percentage (SLO-4: a count)."""
    return f"{target:g}" if name == "SLO-4" else f">= {target:.1%}"


def describe(report: dict[str, Any]) -> list[str]:
    lines = [f"SLOs for {report['month']} over {report['runs']} runs in {report['runtime_dir']}:"]
    for s in report["slos"]:
        value = shown_value(s)
        if s["slo"] != "SLO-4" and s["value"] is not None:
            value += f" ({s['good']}/{s['counted']})"
        state = {True: "met", False: "MISSED", None: "unknown"}[s["met"]]
        target = shown_target(s["slo"], s["target"])
        missed = f"; missed: {', '.join(s['missed_runs'][:5])}" if s["missed_runs"] else ""
        lines.append(f"  {s['slo']} {state}: {value}, target {target} ({s['title']}){missed}")
        if s.get("store_note"):  # dome slo --history: what the store can prove of it
            lines.append(f"    {s['store_note']}")
    return lines


@dataclass(frozen=True)
class Determinism:
    """SLO-2 over every complete run of a runtime folder, whatever its month (``dome
    replay --all``): replayed runs with the same gate status / replayed runs."""

    runtime_dir: Path
    replayed: int
    same_status: int
    same_digest: int
    differing: list[str]
    unreadable: list[dict[str, str]]
    skipped: list[str]

    @property
    def rate(self) -> float:
        return self.same_status / self.replayed if self.replayed else 1.0

    @property
    def met(self) -> bool:
        """Never for no replayed run: an empty history shows nothing."""
        return self.replayed > 0 and self.rate >= TARGETS["SLO-2"]

    def as_json(self) -> dict[str, Any]:
        return {
            "slo": "SLO-2 determinism",
            "runtime_dir": str(self.runtime_dir),
            "runs_replayed": self.replayed,
            "same_status": self.same_status,
            "same_digest": self.same_digest,
            "rate": round(self.rate, 6),
            "target": TARGETS["SLO-2"],
            "met": self.met,
            "differing_runs": self.differing,
            "unreadable_runs": self.unreadable,
            "skipped_runs": self.skipped,
        }


def determinism(runtime_dir: Path) -> Determinism:
    """Replay every complete run of ``runtime_dir`` (other folders are skipped)."""
    replayed = same_status = same_digest = 0
    differing: list[str] = []
    unreadable: list[dict[str, str]] = []
    skipped: list[str] = []
    for run_dir in sorted(p for p in runtime_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        manifest = manifest_or_none(run_dir)
        if manifest is None or manifest.get("state") != "complete":
            skipped.append(run_dir.name)
            continue
        try:
            result = replay(load_run(run_dir))
        except RunReadError as exc:
            unreadable.append({"run": run_dir.name, "error": str(exc)})
            continue
        replayed += 1
        same_status += result.same_status
        same_digest += result.identical
        if not result.identical:
            differing.append(run_dir.name)
    return Determinism(runtime_dir, replayed, same_status, same_digest, differing, unreadable, skipped)
