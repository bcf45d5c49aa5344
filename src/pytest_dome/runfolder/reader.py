"""THE reader of a run folder: every command that reads a run reads it here.

- :func:`find_run`: a run folder, or a run id in a runtime folder;
- :func:`read_document` / :func:`read_model`: one artifact by its path constant
  (``layout.MANIFEST``, ``layout.GATE``, ...), parsed by ``safejson``, its schema
  version and JSON Schema checked (and, given the manifest's ``sha256``, its hash),
  then as its pydantic model; :func:`manifest_or_none` for a glance at the manifest;
- :func:`task_result_files`: the task results of a run;
- :func:`load_run`: the whole run as a :class:`RecordedRun` (replay, report, merge,
  status, override, attest, diff read this);
- :func:`read_bytes`: a file's bytes (``dome override`` appends to the overrides);
- ``baseline.read_summary`` reads a baseline's hash-checked files through these.

Every failure is one :class:`RunReadError`, one line naming the run folder, the
catalog reason code and the file relative to the run folder, as ``dome verify``
lists its problems: ``runs/r1: EVIDENCE_INVALID plan.json: nested deeper than 64 levels``.
Integrity (every listed file, hashes, consistency, the replay) is ``audit.py``'s,
over this reader; making the decision again is ``replay.py``'s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from ..contracts import reasons as rc
from ..contracts import ssot
from ..contracts.models import (
    SCHEMA_VERSION,
    BaselineSummary,
    ChangeSet,
    GateDecision,
    PromotionDecision,
    QuarantineFile,
    RiskPolicy,
    RunManifest,
    SessionRecord,
    VerifyResults,
)
from ..core.aggregate import TaskResult, read_task_result
from ..core.canonical import digest, sha256_hex
from ..core.comparison import RecordedBaseline
from ..core.decision import DecisionInputs, outcomes_of
from ..core.plan import read_plan
from ..core.quarantine import as_of_day
from ..core.taskid import is_safe_id
from .layout import (
    BASELINE,
    CHANGE_SET,
    ENVELOPE,
    GATE,
    MANIFEST,
    OVERRIDES,
    PACKET,
    PLAN,
    POLICY,
    PROMOTION,
    QUARANTINE,
    RESULT_SUFFIX,
    SESSION,
    STARTED,
    TASK_RESULTS,
    VERIFY,
)
from .safejson import Refused, limit_of, parse, parse_lines, read_file
from .speedups import gc_paused

SUPPORTED_VERSIONS = frozenset({SCHEMA_VERSION})

KINDS: dict[str, str] = {
    MANIFEST: "run.manifest",
    STARTED: "run.started",
    PLAN: "plan",
    POLICY: "risk.policy",
    CHANGE_SET: "change_set",
    PACKET: "packet",
    BASELINE: "baseline.summary",
    QUARANTINE: "quarantine",
    VERIFY: "verify.results",
    SESSION: "session",
    GATE: "gate.decision",
    PROMOTION: "promotion.decision",
    ENVELOPE: "xtrlv2.envelope",
    OVERRIDES: "overrides",
}
"""The kind of each artifact by its path (a task result's: ``task.result``)."""

M = TypeVar("M", bound=BaseModel)


class RunReadError(ValueError):
    """A run folder cannot be read: one line, ``RUN: CODE FILE: what is wrong``
    (``RUN: what is wrong`` when no one file is at fault)."""

    def __init__(self, run: str | Path, message: str, path: str | None = None, code: str | None = None):
        self.run, self.message, self.path = str(run), message, path
        self.code = code or (rc.EVIDENCE_INVALID if path is not None else None)
        super().__init__(f"{self.run}: {self.problem}")

    @property
    def problem(self) -> str:
        """The line without the run: as ``dome verify`` lists a problem."""
        return self.message if self.path is None else f"{self.code} {self.path}: {self.message}"


def kind_of(relative: str) -> str:
    return "task.result" if relative.startswith(TASK_RESULTS + "/") else KINDS[relative]


# --- locating a run ------------------------------------------------------------


def find_run(run: str, runtime_dir: Path, started_ok: bool = False) -> Path:
    """RUN is a run folder, or a run id looked up in the runtime folder. With
    ``started_ok``, a run that started and never committed is found too."""
    path = Path(run)
    if path.is_dir():
        if not (path / MANIFEST).is_file() and not (started_ok and (path / STARTED).is_file()):
            if (path / STARTED).is_file():  # SIGKILL, or a plugin's os._exit: no decision to read
                raise _missing(path, MANIFEST)
            raise RunReadError(run, f"not a run folder (no {MANIFEST}); give a run folder or id")
        return path
    if is_safe_id(run) and (runtime_dir / run).is_dir():
        return find_run(str(runtime_dir / run), runtime_dir, started_ok)
    raise RunReadError(run, f"no such run folder, and no run {run!r} in {runtime_dir}")


def _missing(run_dir: Path | str, relative: str) -> RunReadError:
    if relative == MANIFEST and os.path.isfile(f"{run_dir}{os.sep}{STARTED}"):
        why = "the run started but never committed a decision (killed?)"
    else:
        why = "missing"
    return RunReadError(run_dir, why, relative, rc.EVIDENCE_MISSING)


# --- one artifact ----------------------------------------------------------------


def read_bytes(
    run_dir: Path | str, relative: str, kind: str | None = None, sha256: str | None = None
) -> bytes:
    """The bytes of the file at ``relative`` (missing, not a regular file, too large, hash)."""
    try:
        data = read_file(f"{run_dir}{os.sep}{relative}", limit_of(kind or kind_of(relative)))
    except FileNotFoundError:
        raise _missing(run_dir, relative) from None
    except OSError as exc:
        raise RunReadError(run_dir, f"cannot be read ({exc.strerror or exc})", relative) from None
    except Refused as exc:  # a FIFO, a device, a folder; too large
        raise RunReadError(run_dir, str(exc), relative) from None
    if sha256 is not None and sha256_hex(data) != sha256:
        raise RunReadError(run_dir, "sha256 differs from the manifest", relative, rc.EVIDENCE_HASH_MISMATCH)
    return data


def manifest_sha256(run_dir: Path | str) -> str:
    """The SHA-256 of the manifest's bytes (an attestation names the run by it)."""
    return sha256_hex(read_bytes(run_dir, MANIFEST))


def read_document(
    run_dir: Path | str,
    relative: str,
    kind: str | None = None,
    sha256: str | None = None,
    *,
    schema: bool = True,
) -> Any:
    """The artifact at ``relative``, parsed; its schema version and JSON Schema checked
    (``schema=False``: parsed only); with ``sha256``, its bytes must have that hash.
    Raises :class:`RunReadError`: missing, not a regular file, too large, hash, not
    JSON, schema version, schema."""
    kind = kind or kind_of(relative)
    data = read_bytes(run_dir, relative, kind, sha256)
    try:
        doc = parse_lines(data) if kind == "overrides" else parse(data)
    except Refused as exc:  # NaN, too deep, not UTF-8, ...
        raise RunReadError(run_dir, str(exc), relative) from None
    except ValueError as exc:
        raise RunReadError(run_dir, f"not readable JSON ({exc})", relative) from None
    if schema:
        if kind == "overrides":
            for number, line in enumerate(doc, 1):
                _check(run_dir, relative, "override", line, f"line {number}: ")
        else:
            _check(run_dir, relative, kind, doc)
    return doc


def _check(run_dir: Path | str, relative: str, kind: str, doc: Any, where: str = "") -> None:
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or version not in SUPPORTED_VERSIONS:  # a list is unhashable
        raise RunReadError(
            run_dir,
            f"{where}schema version {version!r} is not supported by this pytest-dome "
            f"(it reads {', '.join(sorted(SUPPORTED_VERSIONS))})",
            relative,
            rc.EVIDENCE_SCHEMA_UNSUPPORTED,
        )
    problems = ssot.schema_errors(kind, doc)
    if problems:
        raise RunReadError(run_dir, f"{where}invalid {kind}: {problems[0]}", relative)


def invalid_model(exc: ValidationError) -> str:
    """A model's refusal of a document in one line: its first error."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    return f"invalid {exc.title} at {where}: {error['msg']}"


def read_model(run_dir: Path | str, relative: str, model: type[M], document: Any = None) -> M:
    """The artifact at ``relative`` (or its ``document``, already read) as ``model``:
    a value its schema allows and the model does not is a :class:`RunReadError` too."""
    if document is None:
        document = read_document(run_dir, relative)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise RunReadError(run_dir, invalid_model(exc), relative) from None


def manifest_digest(manifest: RunManifest | dict[str, Any]) -> str:
    """SHA-256 of a manifest's canonical content, without its own digest field: the
    verifier's own computation (the writer renders it with its templates,
    ``writer.write_manifest``; a test holds the two to the same digest)."""
    doc = manifest.model_dump(mode="json") if isinstance(manifest, RunManifest) else dict(manifest)
    doc.pop("manifest_digest", None)
    return digest(doc)


def check_manifest_digest(run_dir: Path | str, manifest: dict[str, Any]) -> None:
    """A schema-checked manifest document must match its own digest."""
    if manifest_digest(manifest) != manifest["manifest_digest"]:
        raise RunReadError(
            run_dir, "the manifest's own digest does not match it", MANIFEST, rc.EVIDENCE_HASH_MISMATCH
        )


def manifest_or_none(run_dir: Path) -> dict[str, Any] | None:
    """The run's manifest as parsed, unchecked; None when it cannot be read or is not a JSON object."""
    try:
        doc = read_document(run_dir, MANIFEST, schema=False)
    except RunReadError:
        return None
    return doc if isinstance(doc, dict) else None


def task_result_files(run_dir: Path) -> list[str]:
    """The task result files of a run folder, relative to it, in name order."""
    try:
        names = os.listdir(run_dir / TASK_RESULTS)
    except FileNotFoundError:
        return []
    return [f"{TASK_RESULTS}/{name}" for name in sorted(names) if name.endswith(RESULT_SUFFIX)]


# --- the whole run ---------------------------------------------------------------


class CheckedResult(NamedTuple):
    """A task result document that ``dome verify`` has checked: its run id and record."""

    run_id: str
    record: TaskResult


@dataclass(frozen=True)
class RecordedRun:
    run_dir: Path
    manifest: RunManifest
    inputs: DecisionInputs
    gate: GateDecision | None
    promotion: PromotionDecision | None
    results: tuple[TaskResult, ...]
    """The task results in the run folder (a shard: of its own tasks)."""

    def decision(self) -> tuple[GateDecision, PromotionDecision]:
        """The gate and promotion decisions; a shard's partial run has none."""
        if self.gate is None or self.promotion is None:
            raise RunReadError(self.run_dir, "a shard's partial run has no decision; give the merged run")
        return self.gate, self.promotion


def load_run(run_dir: Path, checked: Mapping[str, Any] | None = None) -> RecordedRun:
    """Read a run. ``checked``: documents already read through :func:`read_document`
    (by ``dome verify``), by relative path, so a large run is not read twice."""
    with gc_paused():
        return _load_run(run_dir, checked)


def _load_run(run_dir: Path, checked: Mapping[str, Any] | None) -> RecordedRun:
    def read(relative: str) -> Any:
        if checked is not None and relative in checked:
            return checked[relative]
        return read_document(run_dir, relative)

    def model(relative: str, cls: type[M]) -> M:
        return read_model(run_dir, relative, cls, read(relative))

    def present(relative: str) -> bool:
        return relative in checked if checked is not None else (run_dir / relative).exists()

    manifest = model(MANIFEST, RunManifest)
    if checked is not None:
        names = sorted(r for r in checked if r.startswith(TASK_RESULTS + "/"))
    else:
        names = task_result_files(run_dir)
    results = tuple(
        doc.record if isinstance(doc, CheckedResult) else read_task_result(doc) for doc in map(read, names)
    )
    inputs = DecisionInputs(
        run_id=manifest.run_id,
        plan=read_plan(read(PLAN)),
        change_set=model(CHANGE_SET, ChangeSet),
        packet_document=read(PACKET) if present(PACKET) else None,
        policy=model(POLICY, RiskPolicy),
        outcomes=outcomes_of(results),
        verify=model(VERIFY, VerifyResults),
        session=model(SESSION, SessionRecord),
        baseline=RecordedBaseline.of(model(BASELINE, BaselineSummary)) if present(BASELINE) else None,
        durations={r.task_id: r.duration_s for r in results},
        quarantine=model(QUARANTINE, QuarantineFile) if present(QUARANTINE) else None,
        as_of=as_of_day(manifest.started_at),
    )
    gate = promotion = None
    if manifest.state == "complete":
        gate = model(GATE, GateDecision)
        promotion = model(PROMOTION, PromotionDecision)
    return RecordedRun(run_dir, manifest, inputs, gate, promotion, results)
