"""Finish a gated run: verify, decide, write the evidence, commit the manifest.

Shared by the pytest plugin (and later shells); knows nothing of pytest.
"""

from __future__ import annotations

import platform
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .config import Settings
from .evidence import GATE, POLICY, PROMOTION, VERIFY, EvidenceWriter, task_result_path
from .gate import GateInputs, gate_decision, promotion_decision
from .models import (
    EffectiveConfig,
    Execution,
    GateDecision,
    PromotionDecision,
    RunManifest,
    SessionFacts,
    TaskResult,
    VerifyCheck,
    VerifyResults,
    Versions,
)
from .redact import Redactor
from .verify import not_run, run_command


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


def gated_exit_status(exit_status: int, settings: Settings, gate: GateDecision) -> int:
    """pytest's exit status, raised (never lowered) when the gate status must fail the job."""
    if gate.status in settings.fail_on and exit_status == 0:
        return 1
    return exit_status


@dataclass(frozen=True)
class RunOutcome:
    gate: GateDecision
    promotion: PromotionDecision
    manifest: RunManifest
    exit_status: int
    run_dir: Path


@dataclass
class Run:
    """One gated run, from its start to its committed manifest."""

    settings: Settings
    started_at: str
    redactor: Redactor
    replaced: Path | None = None

    def finish(
        self,
        results: list[TaskResult],
        session: SessionFacts,
        execution: Execution,
        exit_status: int,
        run_verify: bool = True,
    ) -> RunOutcome:
        s = self.settings
        writer = EvidenceWriter(s.run_dir)
        verify = tuple(
            run_command(argv, s.rootdir, s.verify_timeout, self.redactor)
            if run_verify
            else not_run(argv, self.redactor)
            for argv in s.verify
        )
        inputs = GateInputs(
            outcomes={r.task_id: r.outcome for r in results},
            verify=tuple(
                VerifyCheck(argv=v.argv, status=v.status, exit_code=v.exit_code) for v in verify
            ),
            session=session,
        )
        decided_at = utc_now()
        gate = gate_decision(s.run_id, inputs, s.policy, s.threshold, decided_at)
        promotion = promotion_decision(gate, decided_at)
        final_status = gated_exit_status(exit_status, s, gate)

        for result in results:
            writer.write(task_result_path(result.task_id), "task.result", result, durable=False)
        writer.sync()
        writer.write(POLICY, "risk.policy", s.policy)
        writer.write(
            VERIFY,
            "verify.results",
            VerifyResults(run_id=s.run_id, timeout_s=s.verify_timeout, commands=verify),
        )
        writer.write(GATE, "gate.decision", gate)
        writer.write(PROMOTION, "promotion.decision", promotion)
        manifest = RunManifest(
            run_id=s.run_id,
            state="complete",
            started_at=self.started_at,
            finished_at=utc_now(),
            exit_status=final_status,
            gate_status=gate.status,
            decision_digest=gate.decision_digest,
            execution=execution,
            config=EffectiveConfig(
                runtime_dir=s.display_path(s.runtime_dir),
                policy_source=s.policy_source,
                threshold_source=s.threshold_source,
                risk_threshold=s.threshold,
                fail_on=s.fail_on,
                verify=tuple(tuple(self.redactor.redact(a) for a in argv) for argv in s.verify),
                verify_timeout_s=s.verify_timeout,
            ),
            versions=versions(),
            artifacts=writer.artifact_list(),
        )
        writer.commit(manifest)
        if self.replaced is not None:
            shutil.rmtree(self.replaced, ignore_errors=True)
        return RunOutcome(gate, promotion, manifest, final_status, s.run_dir)
