"""pytest-dome: a pytest plugin that turns a test session into a release gate decision."""

from __future__ import annotations

from .gate import GateInputs, evaluate, gate_decision, promotion_decision
from .models import (
    GateDecision,
    PromotionDecision,
    RiskPolicy,
    RunManifest,
    SessionFacts,
    TaskResult,
    VerifyCheck,
)
from .taskid import task_id_for

__all__ = [
    "GateDecision",
    "GateInputs",
    "PromotionDecision",
    "RiskPolicy",
    "RunManifest",
    "SessionFacts",
    "TaskResult",
    "VerifyCheck",
    "evaluate",
    "gate_decision",
    "promotion_decision",
    "task_id_for",
]
