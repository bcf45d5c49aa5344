"""The risk score: a pure, documented function of the run's results and the policy.

Each factor has a value in [0, 1] computed from the run (a share of tasks, a
saturating count, or a 0/1 flag). Its contribution is ``weight * value``
rounded half-up to two decimals; the score is the sum of the contributions,
capped at 100. Exact rational arithmetic keeps the score identical on every
machine. Plugins add factors of their own (``plugin.<name>``) through the
``pytest_dome_risk_factors`` hook; they are scored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from ..contracts.models import BaselinePolicy, Checks, PluginFactor, Risk, RiskFactor, RiskPolicy
from .canonical import digest

FACTORS: tuple[str, ...] = (
    "task_failure_rate",
    "verify_failure_rate",
    "session_incident",
    "flaky_rate",
    "skipped_rate",
    "xfailed_rate",
    "xpassed_rate",
    "declared_task_risk",
    "verify_missing",
    "changed_files",
    "sensitive_paths",
    "base_ref_unresolved",
)
"""The policy factors of every decision, in the order they are listed in it."""

BASELINE_FACTORS: tuple[str, ...] = (
    "baseline_new_failures",
    "baseline_newly_flaky",
    "baseline_removed_tasks",
    "baseline_slower_tasks",
    "baseline_suite_slower",
)
"""The factors of a run compared with a baseline (``comparison.py``), listed after
:data:`FACTORS` in its decision only: a run without a baseline decides as before."""

QUARANTINE_FACTORS: tuple[str, ...] = ("quarantined_failure_rate",)
"""The factor of a run with a quarantine file (``core.quarantine``), listed last in
its decision only: a run without one decides as before."""

ALL_FACTORS = FACTORS + BASELINE_FACTORS + QUARANTINE_FACTORS

_CENT = Decimal("0.01")


def _share(part: int, whole: int) -> Fraction:
    return Fraction(part, whole) if whole else Fraction(0)


def factor_values(
    checks: Checks, declared_risk: float, saturate_at: int, shielded: int = 0
) -> dict[str, Fraction]:
    """The value in [0, 1] of every policy factor for one run.

    ``declared_risk`` is the sum of the risk weights of tasks that did not
    pass cleanly; ``saturate_at`` the changed-file count that scores 1;
    ``shielded`` the failures a quarantine shields, scored by their own factor
    (``quarantined_failure_rate``, in a run with a quarantine file) and not as
    ``task_failure_rate``.
    """
    tasks, session, change = checks.tasks, checks.session, checks.change_set
    bad_verify = sum(1 for v in checks.verify if v.status != "passed")
    incident = (
        session.collection_errors > 0
        or session.interrupted
        or session.worker_crashes > 0
        or session.internal_error
        or session.plan_missing
        or session.shards_missing > 0
        or session.shards_duplicated > 0
    )
    values = {
        "task_failure_rate": _share(tasks.failed + tasks.error + tasks.missing - shielded, tasks.planned),
        "verify_failure_rate": _share(bad_verify, len(checks.verify)),
        "session_incident": Fraction(int(incident)),
        "flaky_rate": _share(tasks.flaky, tasks.planned),
        "skipped_rate": _share(tasks.skipped, tasks.planned),
        "xfailed_rate": _share(tasks.xfailed, tasks.planned),
        "xpassed_rate": _share(tasks.xpassed, tasks.planned),
        "declared_task_risk": min(Fraction(1), Fraction(Decimal(str(declared_risk))) / 100),
        "verify_missing": Fraction(int(not checks.verify)),
        "changed_files": min(Fraction(1), Fraction(change.changed_files, saturate_at)),
        "sensitive_paths": Fraction(int(change.sensitive_files > 0)),
        "base_ref_unresolved": Fraction(int(change.status in ("no_git", "unresolved"))),
    }
    if checks.quarantine is not None:
        values["quarantined_failure_rate"] = _share(len(checks.quarantine.failures), tasks.planned)
    return values


def baseline_policy(policy: RiskPolicy) -> BaselinePolicy:
    """The policy's ``baseline`` settings (the defaults for a policy without them)."""
    return policy.baseline or BaselinePolicy()


def to_cents(value: Decimal | Fraction | float) -> float:
    """Round half-up to two decimals, as a float (the artifacts' number format)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return float(Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP))


def policy_digest(policy: RiskPolicy) -> str:
    return digest(policy.model_dump(mode="json"))


def _factor(name: str, weight: float, value: Fraction) -> RiskFactor:
    contribution = to_cents(Decimal(str(weight)) * Decimal(value.numerator) / value.denominator)
    return RiskFactor(name=name, weight=weight, value=round(float(value), 6), contribution=contribution)


def score(values: dict[str, Fraction], policy: RiskPolicy, extra: Sequence[PluginFactor] = ()) -> Risk:
    """Score the factor ``values`` (and plugin factors) under ``policy``."""
    factors = [
        _factor(name, policy.factors[name].weight if name in policy.factors else 0.0, values[name])
        for name in ALL_FACTORS
        if name in values
    ]
    factors += [
        _factor(f"plugin.{f.name}", f.weight, Fraction(Decimal(str(f.value))))
        for f in sorted(extra, key=lambda f: f.name)
    ]
    total = sum((Decimal(str(f.contribution)) for f in factors), Decimal(0))
    return Risk(
        score=to_cents(min(total, Decimal(100))),
        threshold=policy.threshold,
        policy_id=policy.policy_id,
        policy_digest=policy_digest(policy),
        factors=tuple(factors),
    )
