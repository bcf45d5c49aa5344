"""``dome override``: a human moves a NEEDS_HUMAN run from hold to promote, with a reason.

The gate decision is never rewritten. The override is appended to
``promotion/overrides.jsonl``, the promotion decision and the xtrlv2 envelope
say promote and who decided, and the manifest's hashes are updated, so
``dome verify`` still passes and tampering with the override is caught.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from ..contracts import reasons as rc
from ..contracts.models import (
    GateDecision,
    OverrideNote,
    OverrideRecord,
    PromotionDecision,
    RunManifest,
)
from ..core.gate import envelope
from ..core.redact import Redactor
from .audit import read_intact
from .layout import ENVELOPE, MANIFEST, OVERRIDES, PROMOTION
from .lifecycle import acquire_lock, release_lock
from .reader import RunReadError, read_bytes, read_model
from .record import utc_now
from .writer import Entry, EvidenceError, EvidenceWriter, write_manifest

M = TypeVar("M", bound=BaseModel)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # a reason may hold tabs and newlines
_ACTOR_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class OverrideError(ValueError):
    """The override is refused: the message says why and what to do."""


def check_actor(actor: str) -> str:
    """The actor as it will be recorded (redacted), or a refusal."""
    actor = Redactor().redact(actor.strip())
    if not actor or len(actor) > 100 or _ACTOR_CONTROL.search(actor):
        raise OverrideError("--actor must be a name of 1 to 100 printable characters")
    return actor


def check_reason(reason: str) -> str:
    """The reason as it will be recorded (redacted), or a refusal."""
    reason = Redactor().redact(reason.strip())
    if _CONTROL.search(reason) or len(reason) > 2000:
        raise OverrideError("--reason must be printable text of at most 2000 characters")
    if len(reason.split()) < 3 or len(reason) < 10:
        raise OverrideError(
            "--reason must say why (at least three words), e.g. "
            '--reason "risk accepted: flaky UI test, tracked in ISSUE-123"'
        )
    return reason


def _load(run_dir: Path, relative: str, kind: str, model: type[M]) -> M:
    """An artifact of a run that verified, read again for the override (through the
    reader): refused in one line should it have changed since."""
    try:
        return read_model(run_dir, relative, model)
    except RunReadError as exc:
        raise OverrideError(str(exc)) from None


def apply_override(run_dir: Path, actor: str, reason: str) -> PromotionDecision:
    actor, reason = check_actor(actor), check_reason(reason)
    try:
        lock = acquire_lock(run_dir)
    except EvidenceError as exc:
        raise OverrideError(f"{exc} (the run is being written)") from None
    try:
        try:  # an override needs intact evidence
            gate, promotion = read_intact(run_dir).decision()
        except RunReadError as exc:
            raise OverrideError(str(exc)) from None
        if gate.status == "REJECT":
            raise OverrideError(
                f"run {gate.run_id} is REJECT ({', '.join(gate.reason_codes)}): a rejection cannot "
                "be overridden; fix the causes and run again"
            )
        if gate.status == "APPROVE":
            raise OverrideError(f"run {gate.run_id} is APPROVE: it is promoted, no override needed")
        if promotion.override is not None:
            raise OverrideError(
                f"run {gate.run_id} was already overridden by {promotion.override.actor} at "
                f"{promotion.override.at}; an override is recorded once"
            )
        note = OverrideNote(actor=actor, reason=reason, at=utc_now())
        record = OverrideRecord(
            run_id=gate.run_id,
            actor=note.actor,
            reason=note.reason,
            at=note.at,
            gate_decision_digest=gate.decision_digest,
        )
        promoted = promotion.model_copy(update={"action": "promote", "override": note})
        _commit(run_dir, gate, promoted, record)
        return promoted
    finally:
        release_lock(lock)


def _commit(run_dir: Path, gate: GateDecision, promotion: PromotionDecision, record: OverrideRecord) -> None:
    """Write the override, the new promotion and envelope, and last the re-hashed manifest."""
    manifest = _load(run_dir, MANIFEST, "run.manifest", RunManifest)
    try:
        lines = read_bytes(run_dir, OVERRIDES)
    except RunReadError as exc:
        if exc.code != rc.EVIDENCE_MISSING:
            raise OverrideError(str(exc)) from None
        lines = b""
    line = json.dumps(record.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    writer = EvidenceWriter(run_dir)
    writer.write_data(OVERRIDES, "overrides", lines + line.encode() + b"\n")
    writer.write(PROMOTION, "promotion.decision", promotion)
    writer.write(ENVELOPE, "xtrlv2.envelope", envelope(gate, promotion))
    entries = {e.path: Entry(e.path, e.kind, e.sha256, e.bytes) for e in manifest.artifacts}
    entries.update(writer.entries)
    head = manifest.model_dump(mode="json", exclude={"artifacts", "manifest_digest"})
    write_manifest(run_dir, head, [entries[p] for p in sorted(entries)])
