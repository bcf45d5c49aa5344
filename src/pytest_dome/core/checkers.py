"""Checkers: is a document a valid artifact of its kind?

Schema validity first (the JSON Schemas are authoritative), then the rules a
schema cannot express: reason codes sorted and from the catalog, a status
consistent with its codes and its risk, and a digest that matches the content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..contracts import reasons as rc
from ..contracts import ssot
from .gate import decision_digest

ORDER_SENSITIVE = ("reason_codes",)


def check(kind: str, document: Any) -> list[str]:
    """Every problem of ``document`` as an artifact of ``kind`` (empty when valid)."""
    return ssot.schema_errors(kind, document) or rules(kind, document)


def rules(kind: str, document: Any) -> list[str]:
    """The problems of a schema-valid ``document`` that its schema cannot express."""
    if kind == "gate.decision":
        return _gate_problems(document)
    if kind == "promotion.decision":
        return _codes_problems(document["reason_codes"], document["gate_status"])
    return []


def _codes_problems(codes: list[str], status: str) -> list[str]:
    problems = []
    catalog = ssot.reason_catalog()
    unknown = [c for c in codes if c not in catalog]
    if unknown:
        problems.append(f"reason_codes: not in the catalog: {', '.join(unknown)}")
        return problems
    if codes != sorted(codes):
        problems.append("reason_codes: not sorted")
    implied = rc.implied_status(tuple(codes))
    if implied != status:
        problems.append(f"status: {status} but the reason codes imply {implied}")
    return problems


def _gate_problems(doc: Mapping[str, Any]) -> list[str]:
    problems = _codes_problems(doc["reason_codes"], doc["status"])
    risk = doc["risk"]
    above = risk["score"] >= risk["threshold"]
    expected = rc.RISK_AT_OR_ABOVE_THRESHOLD if above else rc.RISK_BELOW_THRESHOLD
    if expected not in doc["reason_codes"]:
        problems.append(f"risk: score {risk['score']} against threshold {risk['threshold']} needs {expected}")
    if doc["decision_digest"] != decision_digest(doc):
        problems.append("decision_digest: does not match the decision's content")
    return problems
