"""Read a recorded run and make its decision again, with the plugin's own code path.

Everything the decision depends on is in the run folder (plan, effective
policy, task results, verify results, session facts, change set), so a
replay needs nothing else: not the tests, not the machine, not the clock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from ..contracts import ssot
from ..contracts.models import (
    SCHEMA_VERSION,
    ChangeSet,
    GateDecision,
    PromotionDecision,
    RiskPolicy,
    RunManifest,
    SessionRecord,
    VerifyResults,
)
from ..core.aggregate import TaskResult, read_task_result
from ..core.comparison import RecordedBaseline
from ..core.decision import DecisionInputs, outcomes_of
from ..core.gate import decision_digest, evaluate
from ..core.plan import read_plan
from ..core.taskid import is_safe_id
from .safejson import Refused, read_json
from .speedups import gc_paused
from .writer import (
    BASELINE,
    CHANGE_SET,
    GATE,
    MANIFEST,
    PACKET,
    PLAN,
    POLICY,
    PROMOTION,
    RESULT_SUFFIX,
    SESSION,
    STARTED,
    TASK_RESULTS,
    VERIFY,
)

SUPPORTED_VERSIONS = frozenset({SCHEMA_VERSION})


class RunReadError(ValueError):
    """A run folder cannot be read: one line naming the file and the trouble."""


def find_run(run: str, runtime_dir: Path, started_ok: bool = False) -> Path:
    """RUN is a run folder, or a run id looked up in the runtime folder. With
    ``started_ok``, a run that started and never committed is found too."""
    path = Path(run)
    if path.is_dir():
        if not (path / MANIFEST).is_file() and not (started_ok and (path / STARTED).is_file()):
            if (path / STARTED).is_file():  # SIGKILL, or a plugin's os._exit: no decision to read
                raise RunReadError(
                    f"{run}: the run started but never committed a decision (killed?): no {MANIFEST}"
                )
            raise RunReadError(f"{run}: not a run folder (no {MANIFEST}); give a run folder or id")
        return path
    if is_safe_id(run) and (runtime_dir / run).is_dir():
        return find_run(str(runtime_dir / run), runtime_dir, started_ok)
    raise RunReadError(f"{run}: no such run folder, and no run {run!r} in {runtime_dir}")


def manifest_or_none(run_dir: Path) -> dict[str, Any] | None:
    """The run's manifest as parsed, unchecked; None when it is missing or not a JSON object."""
    try:
        doc = read_json(run_dir / MANIFEST, "run.manifest")
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _read_artifact(run_dir: Path, relative: str, kind: str) -> Any:
    """Parse and schema-check one artifact, or raise :class:`RunReadError` naming it."""
    path = f"{run_dir}{os.sep}{relative}"  # plain strings: a run has 50,000 of them
    try:
        doc = read_json(path, kind)
    except FileNotFoundError:
        raise RunReadError(f"{path}: missing") from None
    except OSError as exc:
        raise RunReadError(f"{path}: cannot be read ({exc.strerror})") from None
    except Refused as exc:
        raise RunReadError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise RunReadError(f"{path}: not readable JSON ({exc})") from None
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or version not in SUPPORTED_VERSIONS:  # a list is unhashable
        raise RunReadError(
            f"{path}: schema version {version!r} is not supported by this pytest-dome "
            f"(it reads {', '.join(sorted(SUPPORTED_VERSIONS))})"
        )
    problems = ssot.schema_errors(kind, doc)
    if problems:
        raise RunReadError(f"{path}: invalid {kind}: {problems[0]}")
    return doc


@dataclass(frozen=True)
class RecordedRun:
    run_dir: Path
    manifest: RunManifest
    evidence: DecisionInputs
    gate: GateDecision | None
    promotion: PromotionDecision | None
    results: tuple[TaskResult, ...]
    """The task results in the run folder (a shard: of its own tasks)."""


def task_result_files(run_dir: Path) -> list[str]:
    """The task result files of a run folder, relative to it, in name order."""
    try:
        names = os.listdir(run_dir / TASK_RESULTS)
    except FileNotFoundError:
        return []
    return [f"{TASK_RESULTS}/{name}" for name in sorted(names) if name.endswith(RESULT_SUFFIX)]


class CheckedResult(NamedTuple):
    """A task result document that ``dome verify`` has checked: its run id and record."""

    run_id: str
    record: TaskResult


def _checked_result(doc: dict[str, Any] | CheckedResult) -> TaskResult:
    return doc.record if isinstance(doc, CheckedResult) else read_task_result(doc)


def load_run(run_dir: Path, checked: Mapping[str, Any] | None = None) -> RecordedRun:
    """Read a run. ``checked``: documents already parsed and schema-checked (by
    ``dome verify``), by relative path, so a large run is not read twice."""
    with gc_paused():
        try:
            return _load_run(run_dir, checked)
        except ValidationError as exc:  # a value the schema allows and the model does not
            raise RunReadError(f"{run_dir}: {invalid_model(exc)}") from None


def invalid_model(exc: ValidationError) -> str:
    """A model's refusal of a document in one line: its first error."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    return f"invalid {exc.title} at {where}: {error['msg']}"


def _load_run(run_dir: Path, checked: Mapping[str, Any] | None) -> RecordedRun:
    if checked is not None:

        def read_artifact(run_dir: Path, relative: str, kind: str) -> Any:
            if relative in checked:
                return checked[relative]
            return _read_artifact(run_dir, relative, kind)
    else:
        read_artifact = _read_artifact
    manifest = RunManifest.model_validate(read_artifact(run_dir, MANIFEST, "run.manifest"))
    complete = manifest.state == "complete"
    packet = run_dir / PACKET
    results = tuple(
        _checked_result(read_artifact(run_dir, rel, "task.result"))
        for rel in (
            sorted(r for r in checked if r.startswith(TASK_RESULTS + "/"))
            if checked is not None
            else task_result_files(run_dir)
        )
    )
    inputs = DecisionInputs(
        run_id=manifest.run_id,
        plan=read_plan(read_artifact(run_dir, PLAN, "plan")),
        change_set=ChangeSet.model_validate(read_artifact(run_dir, CHANGE_SET, "change_set")),
        packet_document=read_artifact(run_dir, PACKET, "packet") if packet.exists() else None,
        policy=RiskPolicy.model_validate(read_artifact(run_dir, POLICY, "risk.policy")),
        outcomes=outcomes_of(results),
        verify=VerifyResults.model_validate(read_artifact(run_dir, VERIFY, "verify.results")),
        session=SessionRecord.model_validate(read_artifact(run_dir, SESSION, "session")),
        baseline=RecordedBaseline.read(read_artifact(run_dir, BASELINE, "baseline.summary"))
        if (run_dir / BASELINE).exists()
        else None,
        durations={r.task_id: r.duration_s for r in results},
    )
    gate = promotion = None
    if complete:
        gate = GateDecision.model_validate(read_artifact(run_dir, GATE, "gate.decision"))
        promotion = PromotionDecision.model_validate(read_artifact(run_dir, PROMOTION, "promotion.decision"))
    return RecordedRun(run_dir, manifest, inputs, gate, promotion, results)


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
    if recorded.gate is None:
        raise RunReadError(
            f"{recorded.run_dir}: a shard's partial run has no decision to replay; replay the merged run"
        )
    what_if = policy is not None
    content = evaluate(recorded.evidence.gate_inputs(), policy or recorded.evidence.policy)
    stored = recorded.gate.model_dump(mode="json")
    stored_content = {k: stored[k] for k in content}
    return ReplayResult(
        run_id=recorded.manifest.run_id,
        recorded_status=recorded.gate.status,
        recorded_digest=recorded.gate.decision_digest,
        status=content["status"],
        digest=decision_digest(content),
        score=content["risk"]["score"],
        threshold=content["risk"]["threshold"],
        reason_codes=tuple(content["reason_codes"]),
        what_if=what_if,
        differences=tuple(differences(stored_content, content)),
    )
