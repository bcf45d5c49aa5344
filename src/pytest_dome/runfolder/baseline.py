"""The baseline of a gated run (``--dome-baseline=RUN``).

A baseline is another complete run, intact; it is read once, when the session is
configured, into a summary (each planned task's outcome, flakiness and duration),
which the run records as ``inputs/baseline.summary.json`` and decides with. The
reading is :func:`read_summary`'s, through the reader (the files the summary is
made of, each checked against its manifest's hash); the comparison is
``core/comparison.py``; showing it to people is ``report/baseline.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..contracts import reasons as rc
from ..contracts.models import BaselineRun, BaselineSummary, BaselineTask, GateDecision, RunManifest
from ..core.aggregate import read_task_result
from ..core.checkers import rules
from ..core.comparison import RecordedBaseline
from ..core.gate import results_digest
from ..core.plan import read_plan
from ..core.verdict import TaskVerdict
from .layout import GATE, MANIFEST, PLAN, task_result_path
from .reader import RunReadError, check_manifest_digest, find_run, read_document, read_model
from .speedups import gc_paused


class BaselineError(ValueError):
    """A run that cannot be compared with: one line that says why."""


def read_baseline(source: str, runtime_dir: Path, invocation_dir: Path) -> RecordedBaseline:
    """``--dome-baseline``: a run folder (relative to the invocation folder) or a run id."""
    path = invocation_dir / source
    try:
        run_dir = find_run(str(path) if path.is_dir() else source, runtime_dir)
        return RecordedBaseline.of(read_summary(run_dir))
    except RunReadError as exc:
        raise BaselineError(f"--dome-baseline: {exc}") from None


def read_summary(run_dir: Path) -> BaselineSummary:
    """The summary of the complete run in ``run_dir`` that a run compared with it
    records (each planned task's outcome, flakiness and duration).

    Read from the files the summary is made of (manifest, gate decision, plan, the
    planned tasks' results), not the whole run, and without making its decision
    again: each file is checked against the hash its manifest lists, the manifest
    against its own digest, the gate decision against its ``decision_digest``, and
    the outcomes read against the gate's ``results_digest`` (the digest of the
    verdicts it decided on). A file edited since, re-sealed or not, is refused with
    the line ``dome verify`` gives for it, or ``EVIDENCE_INCONSISTENT``."""
    with gc_paused():
        return _read_summary(run_dir)


def _read_summary(run_dir: Path) -> BaselineSummary:
    document = read_document(run_dir, MANIFEST)
    check_manifest_digest(run_dir, document)
    manifest = read_model(run_dir, MANIFEST, RunManifest, document)
    if manifest.state != "complete":
        raise RunReadError(run_dir, "a shard's partial run has no decision; give the merged run")
    hashes = {e.path: e.sha256 for e in manifest.artifacts}

    def listed(relative: str, code: str = rc.EVIDENCE_MISSING, why: str = "") -> Any:
        if relative not in hashes:
            raise RunReadError(run_dir, why or "required artifact not in the manifest", relative, code)
        return read_document(run_dir, relative, sha256=hashes[relative])

    def inconsistent(relative: str, why: str) -> RunReadError:
        return RunReadError(run_dir, why, relative, rc.EVIDENCE_INCONSISTENT)

    gate_document = listed(GATE)
    for problem in rules("gate.decision", gate_document):
        raise RunReadError(run_dir, problem, GATE)
    gate = read_model(run_dir, GATE, GateDecision, gate_document)
    if (gate.status, gate.decision_digest) != (manifest.gate_status, manifest.decision_digest):
        raise inconsistent(GATE, "status or digest differs from the manifest's")
    plan = read_plan(listed(PLAN))
    if plan.input_digest != manifest.input_digest:
        raise inconsistent(PLAN, "input_digest differs from the manifest's")
    tasks, verdicts = [], []
    for task in plan.tasks:
        rel = task_result_path(task.task_id)
        why = f"planned task {task.task_id!r} has no final result"
        doc = listed(rel, rc.EVIDENCE_RESULTS_INCOMPLETE, why)
        if doc["run_id"] != manifest.run_id:
            raise inconsistent(rel, f"run id {doc['run_id']!r}, not {manifest.run_id!r}")
        result = read_task_result(doc)
        if result.task_id != task.task_id:
            raise RunReadError(run_dir, "the result names another task", rel, rc.EVIDENCE_RESULTS_INCOMPLETE)
        verdicts.append(
            TaskVerdict(task.task_id, result.outcome, result.flaky, task.critical, task.risk_weight)
        )
        tasks.append(
            BaselineTask(
                task_id=task.task_id,
                node_id=task.node_id,
                outcome=result.outcome,
                flaky=result.flaky,
                duration_s=result.duration_s,
            )
        )
    if results_digest(verdicts) != gate.checks.tasks.results_digest:
        raise inconsistent(GATE, "checks.tasks.results_digest: not the digest of the task results")
    run = BaselineRun(
        run_id=manifest.run_id,
        gate_status=gate.status,
        decision_digest=gate.decision_digest,
        input_digest=manifest.input_digest,
        manifest_digest=manifest.manifest_digest,
    )
    return BaselineSummary(baseline=run, tasks=tuple(tasks))
