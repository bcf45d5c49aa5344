"""Make a recorded run's decision again, with the plugin's own code path.

Everything the decision depends on is in the run folder (plan, effective
policy, task results, verify results, session facts, change set), so a
replay needs nothing else: not the tests, not the machine, not the clock.
The run is read by ``reader.py`` (:func:`reader.load_run`); this module only
decides again and compares.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..contracts.models import RiskPolicy
from ..core.gate import decision_digest
from .reader import RecordedRun


@dataclass(frozen=True)
class ReplayResult:
    run_id: str
    recorded_status: str
    recorded_digest: str
    status: str
    digest: str
    score: float
    threshold: float
    reason_codes: tuple[str, ...]
    what_if: bool
    differences: tuple[tuple[str, Any, Any], ...] = field(default=())

    @property
    def same_status(self) -> bool:
        return self.status == self.recorded_status

    @property
    def identical(self) -> bool:
        """Same status, same digest, and the recorded content is what the digest covers."""
        return self.same_status and self.digest == self.recorded_digest and not self.differences

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "what_if": self.what_if,
            "identical": self.identical,
            "recorded": {"status": self.recorded_status, "decision_digest": self.recorded_digest},
            "replayed": {
                "status": self.status,
                "decision_digest": self.digest,
                "score": self.score,
                "threshold": self.threshold,
                "reason_codes": list(self.reason_codes),
            },
            "differences": [{"field": f, "recorded": a, "replayed": b} for f, a, b in self.differences],
        }


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _flatten(value[key], f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else None
            yield from _flatten(item, f"{prefix}[{name if name else i}]")
    else:
        yield prefix, value


def differences(recorded: dict[str, Any], replayed: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Field-by-field differences of two decision contents (dotted paths)."""
    a, b = dict(_flatten(recorded)), dict(_flatten(replayed))
    return [(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def replay(recorded: RecordedRun, policy: RiskPolicy | None = None) -> ReplayResult:
    """Make the decision again; with ``policy``, a what-if under another policy."""
    gate, _ = recorded.decision()
    what_if = policy is not None
    content = recorded.inputs.evaluate(policy)
    stored = gate.model_dump(mode="json")
    stored_content = {k: stored[k] for k in content}
    return ReplayResult(
        run_id=recorded.manifest.run_id,
        recorded_status=gate.status,
        recorded_digest=gate.decision_digest,
        status=content["status"],
        digest=decision_digest(content),
        score=content["risk"]["score"],
        threshold=content["risk"]["threshold"],
        reason_codes=tuple(content["reason_codes"]),
        what_if=what_if,
        differences=tuple(differences(stored_content, content)),
    )
