"""Locate, load and apply the SSOT contracts (JSON Schemas, catalog, policy).

The contracts live in ``ssot/`` at the repository root. The wheel ships them
inside the package (``pytest_dome/ssot``); an editable install or a source
checkout finds them at the repository root.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is imported when a document fails the fast path
    from jsonschema import Draft202012Validator
    from referencing import Registry

SCHEMA_FILES: dict[str, str] = {
    "gate.decision": "gate.decision.schema.json",
    "promotion.decision": "promotion.decision.schema.json",
    "run.manifest": "run.manifest.schema.json",
    "task.result": "task.result.schema.json",
    "verify.results": "verify.results.schema.json",
    "reason.codes": "reason.codes.schema.json",
    "risk.policy": "risk.policy.schema.json",
    "dome.config": "dome.config.schema.json",
    "packet": "packet.schema.json",
    "plan": "plan.schema.json",
    "change_set": "change_set.schema.json",
    "session": "session.schema.json",
    "run.started": "run.started.schema.json",
    "override": "override.schema.json",
    "xtrlv2.envelope": "xtrlv2.envelope.schema.json",
    "intoto.statement": "intoto.statement.schema.json",
    "dsse.envelope": "dsse.envelope.schema.json",
    "baseline.summary": "baseline.summary.schema.json",
    "quarantine": "quarantine.schema.json",
}
"""Artifact kind -> schema file name under ``ssot/schemas``."""


class ContractError(ValueError):
    """A document does not satisfy its SSOT contract."""


def _candidates() -> list[Path]:
    package = Path(__file__).resolve().parent.parent  # pytest_dome
    return [package / "ssot", package.parent.parent / "ssot"]


@cache
def ssot_dir() -> Path:
    """The folder holding ``schemas/`` and ``policy/``."""
    for candidate in _candidates():
        if (candidate / "schemas" / "gate.decision.schema.json").is_file():
            return candidate
    raise RuntimeError(
        "pytest-dome cannot find its ssot/ contracts; reinstall the package "
        "(pip install --force-reinstall pytest-dome)"
    )


def load_json(path: Path) -> Any:
    with path.open("rb") as fh:
        return json.load(fh)


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every schema of ``ssot/schemas`` by file name."""
    folder = ssot_dir() / "schemas"
    return {p.name: load_json(p) for p in sorted(folder.glob("*.schema.json"))}


@cache
def registry() -> Registry:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = [
        (doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012))
        for doc in schemas().values()
    ]
    return Registry().with_resources(resources)


def _pointer(document: Any, pointer: str) -> Any:
    for part in filter(None, pointer.split("/")):
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document


def _inline(node: Any, current: str) -> Any:
    """``node`` (a part of the schema file ``current``) with every ``$ref`` replaced by
    what it points to (our schemas are not recursive, and refer to each other by file
    name in one folder), so validation never looks a reference up again: several
    times faster on the tens of thousands of task results a large run has."""
    if isinstance(node, list):
        return [_inline(item, current) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        file_name, _, pointer = node["$ref"].partition("#")
        file_name = file_name or current
        target = _inline(_pointer(schemas()[file_name], pointer), file_name)
        rest = {k: _inline(v, current) for k, v in node.items() if k != "$ref"}
        return {**target, **rest} if rest else target
    return {k: _inline(v, current) for k, v in node.items() if k != "$defs"}


@cache
def _inlined(kind: str) -> dict[str, Any]:
    inlined: dict[str, Any] = _inline(schemas()[SCHEMA_FILES[kind]], SCHEMA_FILES[kind])
    return inlined


@cache
def validator(kind: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_inlined(kind))


@cache
def fast_validator(kind: str) -> Callable[[Any], Any] | None:
    """A compiled validator of the same (inlined) schema, for the fast path.

    fastjsonschema compiles a schema to Python code and checks a document in a
    tenth of the time; our schemas only use keywords that mean the same in
    draft-07, which it implements. jsonschema stays the authority: it decides
    whenever the fast path does not accept, and a test keeps the two in step.
    """
    try:
        import fastjsonschema
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    body = {k: v for k, v in _inlined(kind).items() if k not in ("$schema", "$id", "schema_version")}
    try:
        compiled: Callable[[Any], Any] = fastjsonschema.compile(body)
    except Exception:  # a keyword it does not know: the slow path only
        return None
    return compiled


def schema_errors(kind: str, document: Any) -> list[str]:
    """Human-readable schema violations of ``document`` (empty when valid)."""
    fast = fast_validator(kind)
    if fast is not None:
        try:
            fast(document)
        except Exception:
            pass  # jsonschema says what is wrong
        else:
            return []
    errors = sorted(validator(kind).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [_describe(e) for e in errors]


def subschema_errors(kind: str, definition: str, document: Any) -> list[str]:
    """Violations of ``document`` against one ``$defs`` entry of a schema."""
    from jsonschema import Draft202012Validator

    base = schemas()[SCHEMA_FILES[kind]]["$id"]
    sub = Draft202012Validator({"$ref": f"{base}#/$defs/{definition}"}, registry=registry())
    errors = sorted(sub.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [_describe(e) for e in errors]


def _describe(error: Any) -> str:
    from jsonschema.exceptions import best_match

    error = best_match([error]) or error
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{where}: {error.message}"


def validate(kind: str, document: Any) -> None:
    """Raise :class:`ContractError` with the first violation, if any."""
    problems = schema_errors(kind, document)
    if problems:
        raise ContractError(f"{kind}: {problems[0]}")


@cache
def reason_catalog() -> Mapping[str, Mapping[str, str]]:
    """The reason-code catalog: code -> {meaning, category, implies}."""
    doc = load_json(ssot_dir() / "policy" / "reason.codes.json")  # checked by `dome validate-ssot`
    codes: Mapping[str, Mapping[str, str]] = doc["codes"]
    return codes


def default_policy_document() -> dict[str, Any]:
    """The built-in risk policy as a fresh JSON document."""
    doc: dict[str, Any] = load_json(ssot_dir() / "policy" / "risk.policy.json")
    return doc
