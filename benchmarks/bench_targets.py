"""A benchmark target as the report prints it: one record shape for every issue's
targets (a leaf: the suites' modules and the reports import it)."""

from __future__ import annotations

from typing import Any

PASSES = {"<=": lambda v, lim: v <= lim, "<": lambda v, lim: v < lim, ">=": lambda v, lim: v >= lim}


def target(
    issue: str,
    name: str,
    value: float | None,
    limit: float,
    op: str = "<=",
    note: str = "",
    passed: bool | None = None,
) -> dict[str, Any]:
    """The target ``name`` of ``issue``: ``value`` against ``limit`` by ``op``
    (``passed``: given where the value alone does not decide; None: not measured)."""
    if passed is None and value is not None:
        passed = PASSES[op](value, limit)
    return {
        "issue": issue,
        "target": name,
        "value": value,
        "limit": limit,
        "op": op,
        "pass": passed,
        "note": note,
    }
