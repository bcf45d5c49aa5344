"""pytest-dome: a pytest plugin that turns a test session into a release gate decision.

The public names are imported on first use, so that loading the pytest plugin
(``pytest_dome.plugin``) in a session without ``--dome-run-id`` costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contracts.models import (
        GateDecision,
        PromotionDecision,
        RiskPolicy,
        RunManifest,
        SessionFacts,
        VerifyCheck,
    )
    from .core.aggregate import TaskResult
    from .core.gate import GateInputs, evaluate, gate_decision, promotion_decision
    from .core.taskid import task_id_for

_WHERE = {
    "GateDecision": "contracts.models",
    "GateInputs": "core.gate",
    "PromotionDecision": "contracts.models",
    "RiskPolicy": "contracts.models",
    "RunManifest": "contracts.models",
    "SessionFacts": "contracts.models",
    "TaskResult": "core.aggregate",
    "VerifyCheck": "contracts.models",
    "evaluate": "core.gate",
    "gate_decision": "core.gate",
    "promotion_decision": "core.gate",
    "task_id_for": "core.taskid",
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
