"""Decide and write a run: shared by the pytest plugin and ``dome merge``.

Knows nothing of pytest. The decision is made from the recorded evidence
only (plan, task results, verify results, session facts, change set and
policy), so anyone can make it again from the run folder.
"""

from __future__ import annotations

import platform
import struct
import sys
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from itertools import chain
from pathlib import Path
from typing import Any

from . import changes, report
from .aggregate import TaskRecord, render_task_result
from .canonical import digest
from .evidence import (
    CHANGE_SET,
    ENVELOPE,
    GATE,
    PACKET,
    PLAN,
    POLICY,
    PROMOTION,
    SESSION,
    STARTED,
    VERIFY,
    EvidenceWriter,
    render_parts,
    task_result_path,
)
from .gate import GateInputs, TaskVerdict, envelope, gate_decision, promotion_decision
from .models import (
    SCHEMA_VERSION,
    TASK_OUTCOMES,
    ChangeSet,
    EffectiveConfig,
    Execution,
    GateDecision,
    GateStatus,
    PlanLike,
    PlannedLike,
    PromotionDecision,
    ResultLike,
    RiskPolicy,
    RunManifest,
    SessionRecord,
    Shard,
    VerifyCheck,
    VerifyResults,
    Versions,
)
from .plan import planned_pretty


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def versions() -> Versions:
    return Versions(
        python=platform.python_version(),
        platform=sys.platform,
        pytest=_version("pytest") or "unknown",
        pytest_dome=_version("pytest-dome") or "unknown",
        pluggy=_version("pluggy") or "unknown",
        pytest_xdist=_version("pytest-xdist"),
    )


def gated_exit_status(exit_status: int, status: GateStatus, fail_on: Iterable[str]) -> int:
    """pytest's exit status, raised (never lowered) when the gate status must fail the job."""
    if status in fail_on and exit_status == 0:
        return 1
    return exit_status


@dataclass(frozen=True)
class Evidence:
    """The recorded inputs of a decision: everything in a run folder but the decisions."""

    run_id: str
    plan: PlanLike
    change_set: ChangeSet
    packet_document: Any
    policy: RiskPolicy
    results: tuple[ResultLike, ...]
    """Final results of the planned tasks that reported (a shard: its own only)."""
    verify: VerifyResults
    session: SessionRecord

    def gate_inputs(self) -> GateInputs:
        by_task = {r.task_id: r for r in self.results}
        verdicts = []
        for task in self.plan.tasks:
            result = by_task.get(task.task_id)
            verdicts.append(
                TaskVerdict(
                    task_id=task.task_id,
                    outcome=result.outcome if result else "missing",
                    flaky=result.flaky if result else False,
                    critical=task.critical,
                    risk_weight=task.risk_weight,
                )
            )
        return GateInputs(
            tasks=verdicts,
            verify=tuple(
                VerifyCheck(argv=c.argv, status=c.status, exit_code=c.exit_code) for c in self.verify.commands
            ),
            session=self.session.facts,
            change_set=changes.summary(self.change_set),
            plugin_factors=self.session.plugin_factors,
            input_digest=self.plan.input_digest,
        )

    def decide(self, decided_at: str) -> tuple[GateDecision, PromotionDecision]:
        gate = gate_decision(self.run_id, self.gate_inputs(), self.policy, decided_at)
        return gate, promotion_decision(gate, decided_at)


def missing_results(evidence: Evidence, among: Iterable[PlannedLike] | None = None) -> list[TaskRecord]:
    """A 'missing' result for every planned task (``among``: of these only) without
    one: each planned task has exactly one final result in the run folder."""
    have = {r.task_id for r in evidence.results}
    return [
        TaskRecord(
            task_id=t.task_id,
            node_id=t.node_id,
            outcome="missing",
            flaky=False,
            duration_s=0.0,
            summary="no final report arrived for this task",
            attempts=(),
        )
        for t in (evidence.plan.tasks if among is None else among)
        if t.task_id not in have
    ]


def result_key(result: ResultLike) -> bytes:
    """What identifies a task result's content (a result only changes by gaining
    attempts): its outcome, number of attempts and a CRC of its node id, in 7 bytes."""
    outcome = TASK_OUTCOMES.index(result.outcome)
    return _KEY.pack(
        zlib.crc32(result.node_id.encode("utf-8", "surrogatepass")), len(result.attempts), outcome
    )


_KEY = struct.Struct("!IHB")


@dataclass(frozen=True)
class RunOutcome:
    gate: GateDecision | None
    promotion: PromotionDecision | None
    manifest_digest: str
    config: EffectiveConfig
    exit_status: int
    run_dir: Path
    named: tuple[ResultLike, ...] = ()
    """The results the reviewer's summary may name (``report.named``: failed or
    flaky), not all of them: what a session holds after its finish, every one of
    pytest's five full collections at exit scans (50,000 results are about
    200,000 objects)."""


def write_run(
    run_dir: Path,
    evidence: Evidence,
    *,
    started_at: str,
    execution: Execution,
    config: EffectiveConfig,
    exit_status: int,
    shard: Shard | None = None,
    extra_results: Iterable[ResultLike] = (),
    redactions: Mapping[str, int] | None = None,
    early: dict[str, bytes] | None = None,
) -> RunOutcome:
    """Write the evidence, the decisions (not for a shard) and, last, the manifest.

    ``early``: the task results written while the session ran (task id ->
    ``EarlyResults.written`` value); one whose key is still its final result's
    is kept. Consumed: it is empty afterwards (a large run's finish holds one
    record per task, not two).
    """
    extra_results = tuple(extra_results)
    writer = EvidenceWriter(run_dir)
    if (run_dir / STARTED).is_file():
        writer.adopt(STARTED, "run.started")
    early = early if early is not None else {}
    for result in chain(evidence.results, extra_results):
        kept = early.pop(result.task_id, None)
        if kept is not None and kept[:-40] == result_key(result):
            writer.list_task_result(result.task_id, kept)  # unchanged since
        else:
            writer.write_task_result(result.task_id, render_task_result(evidence.run_id, result))
    for task_id in early:  # written under a task id the plan did not confirm
        (run_dir / task_result_path(task_id)).unlink(missing_ok=True)
    early.clear()
    writer.sync()
    plan = evidence.plan
    plan_head = dict(
        schema_version=SCHEMA_VERSION, kind="plan", packet_id=plan.packet_id, input_digest=plan.input_digest
    )
    writer.write_bytes(PLAN, "plan", render_parts(plan_head, "tasks", plan.tasks, planned_pretty))
    writer.write(CHANGE_SET, "change_set", evidence.change_set)
    writer.write(POLICY, "risk.policy", evidence.policy)
    if evidence.packet_document is not None:
        writer.write_document(PACKET, "packet", evidence.packet_document)
    writer.write(VERIFY, "verify.results", evidence.verify)
    writer.write(SESSION, "session", evidence.session)
    gate = promotion = None
    if shard is None:
        gate, promotion = evidence.decide(utc_now())
        writer.write(GATE, "gate.decision", gate)
        writer.write(PROMOTION, "promotion.decision", promotion)
        writer.write(ENVELOPE, "xtrlv2.envelope", envelope(gate, promotion))
        exit_status = gated_exit_status(exit_status, gate.status, config.fail_on)
    head = RunManifest.model_validate(
        dict(
            run_id=evidence.run_id,
            state="complete" if shard is None else "partial",
            started_at=started_at,
            finished_at=utc_now(),
            exit_status=exit_status,
            gate_status=gate.status if gate else None,
            decision_digest=gate.decision_digest if gate else None,
            input_digest=evidence.plan.input_digest,
            shard=shard,
            execution=execution,
            config=config,
            versions=versions(),
            redactions=dict(sorted((redactions or {}).items())),
            artifacts=(),  # added by the writer: one entry per file it wrote
            manifest_digest="0" * 64,
        )
    ).model_dump(mode="json", exclude={"artifacts", "manifest_digest"})
    digest_value = writer.commit(head)
    named = tuple(r for r in chain(evidence.results, extra_results) if report.named(r))
    return RunOutcome(gate, promotion, digest_value, config, exit_status, run_dir, named)


def manifest_digest(manifest: RunManifest | dict[str, Any]) -> str:
    """SHA-256 of a manifest's canonical content, without its own digest field."""
    doc = manifest.model_dump(mode="json") if isinstance(manifest, RunManifest) else dict(manifest)
    doc.pop("manifest_digest", None)
    return digest(doc)
