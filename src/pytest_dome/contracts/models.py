"""pydantic v2 models mirroring the JSON Schemas in ``ssot/schemas``.

The JSON Schemas are authoritative; these models are how the code builds and
reads artifacts. ``tests/test_contracts.py`` keeps the two from drifting apart.
The base classes and shared types live in ``modelbase``, the baseline's models in
``baseline_models``; both are re-exported here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .baseline_models import BaselineCheck as BaselineCheck
from .baseline_models import BaselinePolicy as BaselinePolicy
from .baseline_models import BaselineRun as BaselineRun
from .baseline_models import BaselineSummary as BaselineSummary
from .baseline_models import BaselineTask as BaselineTask
from .modelbase import FAILING_OUTCOMES as FAILING_OUTCOMES
from .modelbase import GATE_STATUSES as GATE_STATUSES
from .modelbase import SCHEMA_VERSION as SCHEMA_VERSION
from .modelbase import TASK_OUTCOMES as TASK_OUTCOMES
from .modelbase import GateStatus as GateStatus
from .modelbase import Model as Model
from .modelbase import OptionalFieldsModel as OptionalFieldsModel
from .modelbase import Phase as Phase
from .modelbase import PromotionAction as PromotionAction
from .modelbase import TaskOutcome as TaskOutcome
from .modelbase import VerifyStatus as VerifyStatus
from .quarantine_models import QuarantineCheck as QuarantineCheck
from .quarantine_models import QuarantineEntry as QuarantineEntry
from .quarantine_models import QuarantineFile as QuarantineFile
from .quarantine_models import QuarantinePolicy as QuarantinePolicy

# --- risk policy -----------------------------------------------------------


class PolicyFactor(OptionalFieldsModel):
    weight: float = Field(ge=0, le=100)
    description: str | None = None


class ChangeSetPolicy(Model):
    saturate_at: int = Field(default=200, ge=1)
    sensitive_globs: tuple[str, ...] = ()


class RedactPattern(Model):
    kind: str
    pattern: str


class RiskPolicy(OptionalFieldsModel):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["risk.policy"] = "risk.policy"
    policy_id: str
    description: str | None = None
    threshold: float = Field(ge=0, le=100)
    factors: dict[str, PolicyFactor]
    change_set: ChangeSetPolicy = ChangeSetPolicy()
    baseline: BaselinePolicy | None = None
    """None (left out) in a policy of a version without it: ``risk.baseline_policy``."""
    quarantine: QuarantinePolicy | None = None
    """None (left out) in a policy of a version without it: the defaults."""
    redact_patterns: tuple[RedactPattern, ...] = ()

    omitted_when_none = ("description", "baseline", "quarantine")


# --- packet and plan ---------------------------------------------------------


class Selection(Model):
    paths: tuple[str, ...] | None = None
    node_id_prefixes: tuple[str, ...] | None = None
    markers: tuple[str, ...] | None = None


class SuiteTask(Model):
    kind: Literal["tests"]
    id: str
    select: Selection | None = None
    critical: bool | None = None
    risk_weight: float | None = Field(default=None, ge=0, le=100)


class CommandTask(Model):
    kind: Literal["command"]
    id: str
    argv: tuple[str, ...]
    cwd: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    env: tuple[str, ...] | None = None
    critical: bool | None = None
    risk_weight: float | None = Field(default=None, ge=0, le=100)


class PolicyOverrides(Model):
    threshold: float | None = Field(default=None, ge=0, le=100)
    factors: dict[str, PolicyFactor] | None = None
    change_set: ChangeSetPolicy | None = None
    redact_patterns: tuple[RedactPattern, ...] | None = None


class Packet(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["packet"] = "packet"
    packet_id: str
    description: str | None = None
    base_ref: str | None = None
    verify: tuple[tuple[str, ...], ...] | None = None
    policy: PolicyOverrides | None = None
    tasks: tuple[SuiteTask | CommandTask, ...]


ChangeSetStatus = Literal["resolved", "not_requested", "no_git", "unresolved"]


class WorkTree(Model):
    """The working tree against the head commit when the run started."""

    state: Literal["clean", "dirty"]
    changed_paths: int = Field(ge=0)
    digest: str | None
    """SHA-256 over the changed paths and their content; None when clean."""


class ChangeSet(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["change_set"] = "change_set"
    status: ChangeSetStatus
    base_ref: str | None
    base_commit: str | None
    head_commit: str | None
    files: tuple[str, ...]
    sensitive_files: tuple[str, ...]
    detail: str | None
    worktree: WorkTree | None = None
    """None: no commit recorded, git status failed, or a run of a version before it."""


# --- verify results ----------------------------------------------------------


class VerifyCommandResult(Model):
    argv: tuple[str, ...]
    status: VerifyStatus
    exit_code: int | None
    duration_s: float = Field(ge=0)
    output_tail: str


class VerifyResults(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["verify.results"] = "verify.results"
    run_id: str
    timeout_s: float = Field(gt=0)
    commands: tuple[VerifyCommandResult, ...]


# --- gate decision -----------------------------------------------------------


class RiskFactor(Model):
    name: str
    weight: float
    value: float = Field(ge=0, le=1)
    contribution: float = Field(ge=0, le=100)


class Risk(Model):
    score: float = Field(ge=0, le=100)
    threshold: float = Field(ge=0, le=100)
    policy_id: str
    policy_digest: str
    factors: tuple[RiskFactor, ...]


class TaskCounts(Model):
    planned: int = Field(ge=0)
    passed: int = Field(ge=0)
    failed: int = Field(ge=0)
    error: int = Field(ge=0)
    skipped: int = Field(ge=0)
    xfailed: int = Field(ge=0)
    xpassed: int = Field(ge=0)
    missing: int = Field(ge=0)
    flaky: int = Field(ge=0)
    critical_not_passed: int = Field(ge=0)
    results_digest: str


class VerifyCheck(Model):
    argv: tuple[str, ...]
    status: VerifyStatus
    exit_code: int | None


class SessionFacts(Model):
    """What happened to the session itself, beyond task outcomes."""

    collection_errors: int = Field(default=0, ge=0)
    interrupted: bool = False
    worker_crashes: int = Field(default=0, ge=0)
    internal_error: bool = False
    plan_missing: bool = False
    shards_missing: int = Field(default=0, ge=0)
    shards_duplicated: int = Field(default=0, ge=0)


class ChangeSetCheck(Model):
    status: ChangeSetStatus
    changed_files: int = Field(ge=0)
    sensitive_files: int = Field(ge=0)


class PluginFactor(Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    weight: float = Field(ge=0, le=100)
    value: float = Field(ge=0, le=1)


class SessionRecord(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["session"] = "session"
    run_id: str
    facts: SessionFacts
    plugin_factors: tuple[PluginFactor, ...] = ()


class Checks(OptionalFieldsModel):
    tasks: TaskCounts
    verify: tuple[VerifyCheck, ...]
    session: SessionFacts
    change_set: ChangeSetCheck
    baseline: BaselineCheck | None = None
    """Only in a run compared with a baseline (left out, not null, otherwise)."""
    quarantine: QuarantineCheck | None = None
    """Only in a run with a quarantine file (left out, not null, otherwise)."""

    omitted_when_none = ("baseline", "quarantine")


class GateDecision(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["gate.decision"] = "gate.decision"
    run_id: str
    status: GateStatus
    reason_codes: tuple[str, ...]
    input_digest: str
    risk: Risk
    checks: Checks
    decision_digest: str
    decided_at: str


class OverrideNote(Model):
    actor: str
    reason: str
    at: str


class PromotionDecision(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["promotion.decision"] = "promotion.decision"
    run_id: str
    action: PromotionAction
    gate_status: GateStatus
    reason_codes: tuple[str, ...]
    requires_override: bool
    gate_decision_digest: str
    decided_at: str
    override: OverrideNote | None = None


class OverrideRecord(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["override"] = "override"
    run_id: str
    actor: str
    reason: str
    at: str
    gate_decision_digest: str
    from_action: Literal["hold"] = "hold"
    to_action: Literal["promote"] = "promote"


class EnvelopeOverride(Model):
    actor: str
    at: str


class Envelope(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["xtrlv2.envelope"] = "xtrlv2.envelope"
    run_id: str
    state: PromotionAction
    gate_status: GateStatus
    reason_codes: tuple[str, ...]
    decision_digest: str
    input_digest: str
    override: EnvelopeOverride | None


# --- run manifest ------------------------------------------------------------


class Execution(Model):
    mode: Literal["serial", "xdist"]
    workers: int = Field(ge=0)


class EffectiveConfig(Model):
    runtime_dir: str
    policy_source: str
    threshold_source: Literal["policy", "pyproject", "ini", "override_ini", "packet", "option"]
    risk_threshold: float = Field(ge=0, le=100)
    fail_on: tuple[GateStatus, ...]
    verify: tuple[tuple[str, ...], ...]
    verify_timeout_s: float = Field(gt=0)
    packet_source: str | None
    base_ref: str | None
    max_workers: int = Field(ge=0)
    max_retries: int = Field(ge=0)


class Versions(Model):
    python: str
    platform: str
    pytest: str
    pytest_dome: str
    pluggy: str
    pytest_xdist: str | None


ArtifactKind = Literal[
    "gate.decision",
    "promotion.decision",
    "task.result",
    "verify.results",
    "risk.policy",
    "plan",
    "change_set",
    "packet",
    "session",
    "run.started",
    "xtrlv2.envelope",
    "overrides",
    "baseline.summary",
    "quarantine",
]


class ArtifactEntry(Model):
    path: str
    kind: ArtifactKind
    sha256: str
    bytes: int = Field(ge=0)


class RunStarted(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["run.started"] = "run.started"
    run_id: str
    started_at: str
    replaced: bool


class Shard(Model):
    index: int = Field(ge=1)
    count: int = Field(ge=1)


class RunManifest(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["run.manifest"] = "run.manifest"
    run_id: str
    state: Literal["complete", "partial"]
    started_at: str
    finished_at: str
    exit_status: int = Field(ge=0)
    gate_status: GateStatus | None
    decision_digest: str | None
    input_digest: str
    shard: Shard | None
    execution: Execution
    config: EffectiveConfig
    versions: Versions
    redactions: dict[str, int]
    artifacts: tuple[ArtifactEntry, ...]
    manifest_digest: str
