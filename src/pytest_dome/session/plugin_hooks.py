"""The calls of dome's own hooks (``hookspecs.py``) that other plugins implement.

Both are called on the deciding process: ``pytest_dome_risk_factors`` before the
decision (its factors are scored and recorded), ``pytest_dome_gate_decided``
once the run's evidence is committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ..contracts.models import PluginFactor

if TYPE_CHECKING:
    from ..core.aggregate import TaskResult
    from ..runfolder.record import RunOutcome
    from .finish import PluginFactors


def risk_factors(config: pytest.Config) -> PluginFactors | None:
    """What the finish calls for the plugins' risk factors of the results (None:
    no plugin implements the hook, and the results are not built for nobody)."""
    hook = config.hook.pytest_dome_risk_factors
    if not hook.get_hookimpls():
        return None

    def factors(results: tuple[TaskResult, ...]) -> tuple[PluginFactor, ...]:
        found = [
            PluginFactor.model_validate(raw)
            for returned in hook(config=config, results=results)
            for raw in returned or ()
        ]
        names = [f.name for f in found]
        if len(set(names)) != len(names):
            raise ValueError(f"pytest_dome_risk_factors hooks returned a factor name twice: {names}")
        return tuple(sorted(found, key=lambda f: f.name))

    return factors


def gate_decided(config: pytest.Config, outcome: RunOutcome) -> str | None:
    """Tell the plugins the decision of a written run (not of a shard, which has
    none); what went wrong in one of them, in one line, or None."""
    if outcome.gate is None or outcome.promotion is None:
        return None
    try:
        config.hook.pytest_dome_gate_decided(config=config, gate=outcome.gate, promotion=outcome.promotion)
    except Exception as exc:  # the decision is written; say what the hook did
        return f"a pytest_dome_gate_decided hook failed: {type(exc).__name__}: {exc}"
    return None
