"""pydantic models of the baseline comparison: the recorded baseline summary
(``inputs/baseline.summary.json``), the policy's ``baseline`` settings and the gate
decision's ``checks.baseline``. Re-exported by ``models``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .modelbase import SCHEMA_VERSION, GateStatus, Model, TaskOutcome


class BaselinePolicy(Model):
    """How the comparison with a baseline is scored (the policy's ``baseline``)."""

    saturate_at: int = Field(default=10, ge=1)
    min_slowdown_s: float = Field(default=0.5, ge=0)
    slowdown_ratio: float = Field(default=2.0, ge=1)
    suite_min_duration_s: float = Field(default=0.1, ge=0)
    suite_alpha: float = Field(default=0.01, gt=0, le=1)
    suite_ratio: float = Field(default=1.2, ge=1)


class BaselineRun(Model):
    run_id: str
    gate_status: GateStatus
    decision_digest: str
    input_digest: str
    manifest_digest: str


class BaselineTask(Model):
    task_id: str
    node_id: str
    outcome: TaskOutcome
    flaky: bool
    duration_s: float = Field(ge=0)


class BaselineSummary(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["baseline.summary"] = "baseline.summary"
    baseline: BaselineRun
    tasks: tuple[BaselineTask, ...]


class SuiteCheck(Model):
    tasks: int = Field(ge=0)
    slower_tasks: int = Field(ge=0)
    p_value: float = Field(ge=0, le=1)
    slower: bool


class BaselineCheck(Model):
    baseline_run_id: str
    summary_digest: str
    compared: int = Field(ge=0)
    new_failures: int = Field(ge=0)
    known_failures: int = Field(ge=0)
    newly_flaky: int = Field(ge=0)
    removed: int = Field(ge=0)
    added: int = Field(ge=0)
    fixed: int = Field(ge=0)
    slower: int = Field(ge=0)
    suite: SuiteCheck
