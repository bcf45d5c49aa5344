"""The contracts: SSOT files are valid, and the pydantic models mirror the JSON Schemas."""

from __future__ import annotations

import json
import types
import typing
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from pytest_dome.cli.main import main
from pytest_dome.cli.validate_ssot import ssot_problems
from pytest_dome.contracts import models, ssot
from pytest_dome.core.aggregate import Attempt, TaskResult
from pytest_dome.core.plan import Plan, PlannedTask

MODELS: dict[str, type[BaseModel]] = {
    "packet": models.Packet,
    "change_set": models.ChangeSet,
    "session": models.SessionRecord,
    "gate.decision": models.GateDecision,
    "promotion.decision": models.PromotionDecision,
    "run.manifest": models.RunManifest,
    "verify.results": models.VerifyResults,
    "risk.policy": models.RiskPolicy,
    "baseline.summary": models.BaselineSummary,
    "quarantine": models.QuarantineFile,
}


def _is_model(annotation: Any) -> bool:
    # get_origin: on Python 3.10 a generic alias (tuple[str, ...]) is an instance of type too
    return (
        typing.get_origin(annotation) is None
        and isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
    )


def _nested_models(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """('', M) for a model field, ('items', M) for tuple[M, ...], ('values', M) for dict[str, M]."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if _is_model(annotation):
        return [("", annotation)]
    if origin is tuple and args and _is_model(args[0]):
        return [("items", args[0])]
    if origin is dict and _is_model(args[1]):
        return [("additionalProperties", args[1])]
    if origin in (typing.Union, types.UnionType):
        return [m for a in args for m in _nested_models(a)]
    return []


def _deref(schema: dict[str, Any], resolver: Any) -> tuple[dict[str, Any], Any]:
    """Follow $refs, and into the object branch of a nullable ``anyOf``."""
    while "$ref" in schema or "anyOf" in schema:
        if "anyOf" in schema:
            schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
            continue
        resolved = resolver.lookup(schema["$ref"])
        schema, resolver = resolved.contents, resolved.resolver
    return schema, resolver


def _walk(model: type[BaseModel], schema: dict[str, Any], resolver: Any, where: str) -> None:
    schema, resolver = _deref(schema, resolver)
    assert set(schema["properties"]) == set(model.model_fields), where
    assert set(schema.get("required", ())) <= set(model.model_fields), where
    assert schema.get("additionalProperties") is False, where
    for name, field in model.model_fields.items():
        for key, sub in _nested_models(field.annotation):
            sub_schema, sub_resolver = _deref(schema["properties"][name], resolver)
            if key == "additionalProperties":  # a map of named entries (policy factors)
                for entry in sub_schema["properties"].values():
                    _walk(sub, entry, sub_resolver, f"{where}.{name}.*")
            else:
                _walk(sub, sub_schema[key] if key else sub_schema, sub_resolver, f"{where}.{name}")


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_model_mirrors_schema(kind: str) -> None:
    schema = ssot.schemas()[ssot.SCHEMA_FILES[kind]]
    resolver = ssot.registry().resolver(base_uri=schema["$id"])
    _walk(MODELS[kind], schema, resolver, kind)


RECORDS: dict[str, tuple[type, frozenset[str], str, type]] = {
    # kind: (record, the constants it leaves to the renderer, list field, list item record)
    "plan": (Plan, frozenset({"schema_version", "kind"}), "tasks", PlannedTask),
    "task.result": (TaskResult, frozenset({"schema_version", "kind", "run_id"}), "attempts", Attempt),
}


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_per_task_record_mirrors_schema(kind: str) -> None:
    """The per-task artifacts are plain records (built once per test): their fields,
    with the constants the renderer adds, are the schema's properties, and so are
    their list items'."""
    record, constants, key, item = RECORDS[kind]
    schema = ssot.schemas()[ssot.SCHEMA_FILES[kind]]
    resolver = ssot.registry().resolver(base_uri=schema["$id"])
    schema, resolver = _deref(schema, resolver)
    assert set(schema["properties"]) == set(record._fields) | constants
    assert set(schema["required"]) == set(schema["properties"])
    items, _ = _deref(schema["properties"][key]["items"], resolver)
    assert set(items["properties"]) == set(item._fields) == set(items["required"])


def test_ssot_contracts_are_consistent() -> None:
    problems, checked = ssot_problems()
    assert problems == []
    assert "gate.decision.schema.json" in checked["schemas"]


def test_every_schema_has_id_and_version() -> None:
    for name, schema in ssot.schemas().items():
        assert schema["$id"].endswith("/" + name)
        assert schema["schema_version"] == models.SCHEMA_VERSION


def test_validate_ssot_writes_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "m02" / "ssot.validation.json"
    assert main(["validate-ssot", "--report", str(report)]) == 0
    doc = json.loads(report.read_text())
    assert doc["ok"] is True and doc["problems"] == []
    assert doc["reason_codes"] == len(ssot.reason_catalog())
    assert "ssot ok" in capsys.readouterr().out


def test_wheel_ships_the_contracts(tmp_path: Path) -> None:
    """An installed plugin used outside this repo must find its schemas and policy."""
    from hatchling.builders.wheel import WheelBuilder

    root = Path(__file__).resolve().parent.parent
    wheel = Path(next(iter(WheelBuilder(str(root)).build(directory=str(tmp_path), versions=["standard"]))))
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in ssot.SCHEMA_FILES.values():
        assert f"pytest_dome/ssot/schemas/{schema}" in names
    assert "pytest_dome/ssot/policy/reason.codes.json" in names
    assert "pytest_dome/ssot/policy/risk.policy.json" in names
    assert "pytest_dome/py.typed" in names
    assert "pytest_dome/runfolder/_writer.py" in names  # run as a file by the result writer process
    entry_points = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/entry_points.txt")))
        .decode()
    )
    assert "dome = pytest_dome.plugin" in entry_points and "dome = pytest_dome.cli.main:main" in entry_points


# --- the fast validation path agrees with jsonschema, the authority ---------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TASK_RESULT = {
    "schema_version": "1.0.0",
    "kind": "task.result",
    "run_id": "r1",
    "task_id": "t-1",
    "node_id": "t.py::test_a",
    "outcome": "passed",
    "flaky": False,
    "duration_s": 0.1,
    "summary": None,
    "attempts": [
        {"number": 1, "outcome": "passed", "when": "call", "duration_s": 0.1, "worker": None, "summary": None}
    ],
}
mutations = st.sampled_from(["run_id", "task_id", "outcome", "flaky", "duration_s", "summary", "extra"])
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.text(max_size=8),
    st.sampled_from(["../x", "a..b", "failed", "bogus", "x" * 1001, -0.5]),
)


@settings(max_examples=300)
@given(mutations, values, st.booleans())
def test_fast_path_agrees_with_jsonschema(field: str, value: object, in_attempt: bool) -> None:
    import copy

    from jsonschema import Draft202012Validator

    doc = copy.deepcopy(TASK_RESULT)
    target = doc["attempts"][0] if in_attempt and field in ("outcome", "summary", "duration_s") else doc
    target[field] = value
    schema = ssot.schemas()["task.result.schema.json"]
    authority = not list(Draft202012Validator(schema, registry=ssot.registry()).iter_errors(doc))
    assert (ssot.schema_errors("task.result", doc) == []) == authority


def test_no_module_is_over_400_lines() -> None:
    """The project's rule: every module of the package and of the benchmarks small
    enough to read in one sitting."""
    root = Path(__file__).resolve().parents[1]
    package = Path(ssot.__file__).parents[1]
    files = [(package.parent, p) for p in package.rglob("*.py")]
    files += [(root, p) for p in (root / "benchmarks").glob("*.py")]
    sizes = {
        p.relative_to(base).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for base, p in files
    }
    assert {"pytest_dome/session/controller.py", "pytest_dome/runfolder/writer.py"} <= sizes.keys()
    assert "benchmarks/bench.py" in sizes
    assert {name: n for name, n in sizes.items() if n > 400} == {}
