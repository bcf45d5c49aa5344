"""The risk score: a pure, documented function of the run's results and the policy.

Each factor has a value in [0, 1] computed from the run (a share of tasks, or
a 0/1 flag). Its contribution is ``weight * value`` rounded half-up to two
decimals; the score is the sum of the contributions, capped at 100. Exact
rational arithmetic keeps the score identical on every machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from .canonical import digest
from .models import Risk, RiskFactor, RiskPolicy, SessionFacts, TaskCounts, VerifyCheck

FACTORS: tuple[str, ...] = (
    "task_failure_rate",
    "verify_failure_rate",
    "session_incident",
    "skipped_rate",
    "xfailed_rate",
    "xpassed_rate",
    "verify_missing",
)
"""Every factor the score knows, in the order they are listed in a decision."""

_CENT = Decimal("0.01")


def _share(part: int, whole: int) -> Fraction:
    return Fraction(part, whole) if whole else Fraction(0)


def factor_values(
    tasks: TaskCounts, verify: Sequence[VerifyCheck], session: SessionFacts
) -> dict[str, Fraction]:
    """The value in [0, 1] of every factor for one run."""
    bad_verify = sum(1 for v in verify if v.status != "passed")
    incident = (
        session.collection_errors > 0
        or session.interrupted
        or session.worker_crashes > 0
        or session.internal_error
    )
    return {
        "task_failure_rate": _share(tasks.failed + tasks.error + tasks.missing, tasks.planned),
        "verify_failure_rate": _share(bad_verify, len(verify)),
        "session_incident": Fraction(int(incident)),
        "skipped_rate": _share(tasks.skipped, tasks.planned),
        "xfailed_rate": _share(tasks.xfailed, tasks.planned),
        "xpassed_rate": _share(tasks.xpassed, tasks.planned),
        "verify_missing": Fraction(int(not verify)),
    }


def to_cents(value: Decimal | Fraction | float) -> float:
    """Round half-up to two decimals, as a float (the artifacts' number format)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return float(Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP))


def policy_digest(policy: RiskPolicy) -> str:
    return digest(policy.model_dump(mode="json"))


def score(values: Mapping[str, Fraction], policy: RiskPolicy, threshold: float) -> Risk:
    """Score the factor ``values`` under ``policy`` against ``threshold``."""
    factors = []
    total = Decimal(0)
    for name in FACTORS:
        weight = policy.factors[name].weight if name in policy.factors else 0.0
        value = values[name]
        contribution = to_cents(Decimal(str(weight)) * Decimal(value.numerator) / value.denominator)
        total += Decimal(str(contribution))
        factors.append(
            RiskFactor(
                name=name,
                weight=weight,
                value=round(float(value), 6),
                contribution=contribution,
            )
        )
    return Risk(
        score=to_cents(min(total, Decimal(100))),
        threshold=to_cents(threshold),
        policy_id=policy.policy_id,
        policy_digest=policy_digest(policy),
        factors=tuple(factors),
    )
