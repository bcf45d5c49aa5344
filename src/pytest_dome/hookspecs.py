"""Hooks other plugins implement to extend pytest-dome (added in ``pytest_addhooks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import pytest

    from .contracts.models import GateDecision, PromotionDecision
    from .core.aggregate import TaskResult

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_dome_risk_factors(
    config: pytest.Config, results: tuple[TaskResult, ...]
) -> list[dict[str, Any]] | None:
    """Add deterministic risk factors to the gate decision.

    Called once on the controller at session finish, before the decision.
    Return a list of ``{"name": str, "weight": float, "value": float}``:
    ``name`` in ``[a-z][a-z0-9_]*`` (it appears as ``plugin.<name>``),
    ``weight`` in 0..100 and ``value`` in 0..1; the contribution is
    ``weight * value``. The factors are recorded in ``checks/session.json``,
    so a replay of the run gives the same decision. A shard (``--dome-shard``)
    calls it with its own results and records the factors for ``dome merge``,
    which does not call it and keeps each name's highest value.

    :param config: the pytest config.
    :param results: the final task results of the run.
    """


@hookspec
def pytest_dome_gate_decided(config: pytest.Config, gate: GateDecision, promotion: PromotionDecision) -> None:
    """Notified with the final decision once the run's evidence is committed.

    :param config: the pytest config.
    :param gate: the gate decision (as written to gate/gate.decision.json).
    :param promotion: the promotion decision.
    """
