"""What the gate needs to know of one planned task: the decision's per-task input.

A leaf below ``gate`` (which decides with it) and ``comparison`` (which compares
it with a baseline), so that neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..contracts.models import FAILING_OUTCOMES

if TYPE_CHECKING:
    from ..contracts.models import TaskOutcome


@dataclass(frozen=True, slots=True)
class TaskVerdict:
    """What the gate needs to know of one planned task."""

    task_id: str
    outcome: TaskOutcome
    flaky: bool = False
    critical: bool = False
    risk_weight: float = 0.0
    duration_s: float = 0.0
    """Read only in a run compared with a baseline (then recorded in the task result)."""

    @property
    def clean(self) -> bool:
        """Passed on its first attempt."""
        return self.outcome == "passed" and not self.flaky


def named(outcome: TaskOutcome, flaky: bool) -> bool:
    """Whether the review names a result: failed or flaky. A session keeps
    only these after its finish (``record.RunOutcome.named``)."""
    return outcome in FAILING_OUTCOMES or flaky
