"""Write a decided run: shared by the session's finish and ``dome merge``.

Knows nothing of pytest. The decision is made from the recorded inputs only
(``core.decision.DecisionInputs``: plan, task results, verify results, session
facts, change set and policy), so anyone can make it again from the run folder.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from ..contracts.models import (
    SCHEMA_VERSION,
    EffectiveConfig,
    Execution,
    GateDecision,
    PromotionDecision,
    RunManifest,
    Shard,
    VerifyCommandResult,
    Versions,
)
from ..core.aggregate import TaskResult, render_task_result
from ..core.comparison import Comparison
from ..core.decision import DecisionInputs, gated_exit_status
from ..core.gate import envelope
from ..core.plan import planned_pretty
from .layout import (
    BASELINE,
    CHANGE_SET,
    ENVELOPE,
    GATE,
    PACKET,
    PLAN,
    POLICY,
    PROMOTION,
    QUARANTINE,
    SESSION,
    STARTED,
    VERIFY,
)
from .writer import EvidenceWriter, render_parts


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


@dataclass(frozen=True)
class RunOutcome:
    gate: GateDecision | None
    promotion: PromotionDecision | None
    manifest_digest: str
    effective_config: EffectiveConfig
    exit_status: int
    run_dir: Path
    named: tuple[TaskResult, ...] = ()
    """The results the review may name (``report.named``: failed or
    flaky), not all of them: what a session holds after its finish, every one of
    pytest's five full collections at exit scans (50,000 results are about
    200,000 objects)."""
    verify: tuple[VerifyCommandResult, ...] = ()
    """The verify commands as written to ``checks/verify.results.json``."""
    comparison: Comparison | None = None
    """The comparison with the baseline (a run with one, not a shard)."""
    finished_at: str = ""
    """The manifest's ``finished_at``."""


def write_run(
    run_dir: Path,
    inputs: DecisionInputs,
    *,
    results: Iterable[TaskResult],
    written: dict[str, bytes] | None = None,
    started_at: str,
    execution: Execution,
    effective_config: EffectiveConfig,
    exit_status: int,
    shard: Shard | None = None,
    redactions: Mapping[str, int] | None = None,
    named: tuple[TaskResult, ...] = (),
) -> RunOutcome:
    """Write the evidence of ``inputs``, the decisions (not for a shard) and, last,
    the manifest (``effective_config``: its ``config``).

    ``results``: the task results to write now (consumed one at a time, before
    ``written`` is read: a generator keeps the finish small and may look into
    ``written``); ``written``: those already written while
    the session ran (task id -> ``speedups.pack_digest`` of the file),
    taken over by the writer (the caller lets it go). A file written under a
    task id the plan does not have is removed. ``named``: the
    results the review names (see :attr:`RunOutcome.named`).
    """
    writer = EvidenceWriter(run_dir)
    if (run_dir / STARTED).is_file():
        writer.adopt(STARTED, "run.started")
    if written:  # a large run holds one record of them, not two
        writer.adopt_task_results(written)
    for result in results:  # first: a result written again replaces what was written
        writer.write_task_result(result.task_id, render_task_result(inputs.run_id, result))
    planned = sum(1 for t in inputs.plan.tasks if t.task_id in writer.task_results)
    if planned < len(writer.task_results):  # some written under a task id the plan has not
        ids = {t.task_id for t in inputs.plan.tasks}
        for task_id in [t for t in writer.task_results if t not in ids]:
            writer.drop_task_result(task_id)
    writer.sync()
    plan = inputs.plan
    plan_head = dict(
        schema_version=SCHEMA_VERSION, kind="plan", packet_id=plan.packet_id, input_digest=plan.input_digest
    )
    writer.write_data(PLAN, "plan", render_parts(plan_head, "tasks", plan.tasks, planned_pretty))
    writer.write(CHANGE_SET, "change_set", inputs.change_set)
    writer.write(POLICY, "risk.policy", inputs.policy)
    if inputs.packet_document is not None:
        writer.write_document(PACKET, "packet", inputs.packet_document)
    writer.write(VERIFY, "verify.results", inputs.verify)
    writer.write(SESSION, "session", inputs.session)
    if inputs.baseline is not None:
        writer.write(BASELINE, "baseline.summary", inputs.baseline.summary)
    if inputs.quarantine is not None:
        writer.write(QUARANTINE, "quarantine", inputs.quarantine)
    gate = promotion = None
    comparison = None
    if shard is None:
        gate, promotion = inputs.decide(utc_now())
        writer.write(GATE, "gate.decision", gate)
        writer.write(PROMOTION, "promotion.decision", promotion)
        writer.write(ENVELOPE, "xtrlv2.envelope", envelope(gate, promotion))
        quarantine = gate.checks.quarantine
        shielded = quarantine is not None and bool(quarantine.failures)
        exit_status = gated_exit_status(exit_status, gate.status, effective_config.fail_on, shielded)
        comparison = inputs.comparison()
    head = RunManifest.model_validate(
        dict(
            run_id=inputs.run_id,
            state="complete" if shard is None else "partial",
            started_at=started_at,
            finished_at=utc_now(),
            exit_status=exit_status,
            gate_status=gate.status if gate else None,
            decision_digest=gate.decision_digest if gate else None,
            input_digest=inputs.plan.input_digest,
            shard=shard,
            execution=execution,
            config=effective_config,  # the manifest's field
            versions=versions(),
            redactions=dict(sorted((redactions or {}).items())),
            artifacts=(),  # added by the writer: one entry per file it wrote
            manifest_digest="0" * 64,
        )
    ).model_dump(mode="json", exclude={"artifacts", "manifest_digest"})
    digest_value = writer.commit(head)
    return RunOutcome(
        gate,
        promotion,
        digest_value,
        effective_config,
        exit_status,
        run_dir,
        named,
        inputs.verify.commands,
        comparison,
        head["finished_at"],
    )
