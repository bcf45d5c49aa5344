"""``dome validate-ssot``: the SSOT contracts checked against the Draft 2020-12
metaschema, against their own schemas, and against the code: the reason codes it
emits and the risk factors it scores.
"""

from __future__ import annotations

from typing import Any

from ..contracts import reasons, ssot
from ..core import risk
from ..core.checkers import check


def _metaschema_problems() -> list[str]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    problems = []
    for name, schema in ssot.schemas().items():
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.append(f"{name}: not a valid Draft 2020-12 schema: {exc.message}")
        for key in ("$id", "schema_version"):
            if key not in schema:
                problems.append(f"{name}: has no {key}")
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problems.append(f"{name}: $schema is not Draft 2020-12")
    return problems


def ssot_problems() -> tuple[list[str], dict[str, Any]]:
    """Every problem of the SSOT contracts, and what was checked."""
    problems = _metaschema_problems()
    folder = ssot.ssot_dir()
    catalog_doc = ssot.load_json(folder / "policy" / "reason.codes.json")
    policy_doc = ssot.load_json(folder / "policy" / "risk.policy.json")
    problems += [f"policy/reason.codes.json: {p}" for p in check("reason.codes", catalog_doc)]
    problems += [f"policy/risk.policy.json: {p}" for p in check("risk.policy", policy_doc)]
    catalog = catalog_doc.get("codes", {})
    enum = ssot.schemas()["common.schema.json"]["$defs"]["reason_code"]["enum"]
    if sorted(enum) != sorted(catalog):
        problems.append("common.schema.json reason_code enum differs from the catalog's codes")
    for code, implied in reasons.IMPLIES.items():
        if code not in catalog:
            problems.append(f"code {code} can be emitted but is not in the catalog")
        elif catalog[code]["implies"] != implied:
            problems.append(
                f"code {code}: the catalog says it implies {catalog[code]['implies']}, "
                f"the code says {implied}"
            )
    for code in catalog:
        if code not in reasons.IMPLIES:
            problems.append(f"catalog code {code} is never emitted by the code")
    factors = set(policy_doc.get("factors", {}))
    if factors != set(risk.ALL_FACTORS):
        problems.append(
            f"policy/risk.policy.json factors {sorted(factors)} differ from the scored factors "
            f"{sorted(risk.ALL_FACTORS)}"
        )
    checked = {
        "schemas": sorted(ssot.schemas()),
        "policy_files": ["policy/reason.codes.json", "policy/risk.policy.json"],
        "reason_codes": len(catalog),
        "risk_factors": len(factors),
    }
    return problems, checked
