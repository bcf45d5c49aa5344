"""pytest-dome: a pytest plugin that turns a test session into a release gate decision.

The public names are imported on first use, so that loading the pytest plugin
(``pytest_dome.plugin``) in a session without ``--dome-run-id`` costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .aggregate import TaskResult
    from .gate import GateInputs, evaluate, gate_decision, promotion_decision
    from .models import (
        GateDecision,
        PromotionDecision,
        RiskPolicy,
        RunManifest,
        SessionFacts,
        VerifyCheck,
    )
    from .taskid import task_id_for

_WHERE = {
    "GateDecision": "models",
    "GateInputs": "gate",
    "PromotionDecision": "models",
    "RiskPolicy": "models",
    "RunManifest": "models",
    "SessionFacts": "models",
    "TaskResult": "aggregate",
    "VerifyCheck": "models",
    "evaluate": "gate",
    "gate_decision": "gate",
    "promotion_decision": "gate",
    "task_id_for": "taskid",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'pytest_dome' has no attribute {name!r}")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)
