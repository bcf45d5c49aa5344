"""``dome verify``: is a run's evidence complete, intact and does it replay?

Every problem carries a catalog reason code. A run that was approved and
verifies clean is what SLO-3 (evidence completeness) counts.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contracts import reasons as rc
from ..core.aggregate import read_task_result
from ..core.checkers import rules
from ..core.plan import in_shard
from .layout import (
    CHANGE_SET,
    ENVELOPE,
    GATE,
    MANIFEST,
    OVERRIDES,
    PLAN,
    POLICY,
    PROMOTION,
    SESSION,
    VERIFY,
    task_result_path,
)
from .reader import (
    CheckedResult,
    RecordedRun,
    RunReadError,
    check_manifest_digest,
    load_run,
    read_document,
)
from .replay import replay
from .speedups import can_fork, gc_paused, split_in_fork
from .writer import EvidenceError, safe_join

REQUIRED = (PLAN, POLICY, CHANGE_SET, VERIFY, SESSION)
REQUIRED_COMPLETE = (GATE, PROMOTION, ENVELOPE)


@dataclass(frozen=True)
class Problem:
    code: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.path}: {self.message}"

    @classmethod
    def of(cls, exc: RunReadError) -> Problem:
        """The reader's refusal of a file, as a problem of the run."""
        return cls(exc.code or rc.EVIDENCE_INVALID, exc.path or "-", exc.message)

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "message": self.message}


class NotIntact(RunReadError):
    """A run that ``dome verify`` does not accept: its first problem, in one line."""

    def __init__(self, run_dir: Path, problems: list[Problem]):
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more: dome verify lists them)" if len(problems) > 1 else ""
        super().__init__(run_dir, first.message + more, first.path, first.code)


def verify_run(run_dir: Path, *, replay_decision: bool = True, parallel: bool | None = None) -> list[Problem]:
    """Every completeness and integrity problem of the run in ``run_dir``.

    ``parallel``: check half of a large run's files in a forked process (None:
    when that is safe, see ``speedups.can_fork``, and the run lists at least
    ``PARALLEL_MIN`` files)."""
    with gc_paused():
        return _verify_run(run_dir, replay_decision, parallel, load=False)[0]


def read_intact(run_dir: Path) -> RecordedRun:
    """The run in ``run_dir``, read once, when ``dome verify`` accepts it (its decision
    replayed); else :class:`NotIntact`. For the commands that act on a run's evidence:
    status, override, attest, merge (a shard), dome diff's newer run."""
    with gc_paused():
        problems, recorded = _verify_run(run_dir, True, None, load=True)
    if problems:
        raise NotIntact(run_dir, problems)
    assert recorded is not None
    return recorded


def _verify_run(
    run_dir: Path, replay_decision: bool, parallel: bool | None, load: bool
) -> tuple[list[Problem], RecordedRun | None]:
    problems: list[Problem] = []

    def add(code: str, path: str, message: str) -> None:
        problems.append(Problem(code, path, message))

    try:
        manifest = read_document(run_dir, MANIFEST)
    except RunReadError as exc:
        return [Problem.of(exc)], None
    try:
        check_manifest_digest(run_dir, manifest)
    except RunReadError as exc:
        problems.append(Problem.of(exc))

    # One walk of the run folder: the regular files in it (links are not followed, so
    # a path found here cannot lead out of it; anything else goes through safe_join).
    names = {e["path"] for e in manifest["artifacts"]} | {MANIFEST}
    present = {rel for rel, link in _files(str(run_dir)) if not link or rel not in names}
    # (a listed link is not taken as present: it goes through safe_join below)

    found, listed = _check_listed(run_dir, manifest["artifacts"], present, parallel)
    problems.extend(found)

    complete = manifest["state"] == "complete"
    for rel in REQUIRED + (REQUIRED_COMPLETE if complete else ()):
        if rel not in listed and not any(p.path == rel for p in problems):
            add(rc.EVIDENCE_MISSING, rel, "required artifact not in the manifest")

    for rel in sorted(present - names):
        add(rc.EVIDENCE_UNLISTED, rel, "present in the run folder but not in the manifest")

    _check_results(manifest, listed, add, {p.path for p in problems})
    _check_consistency(manifest, listed, add)
    if problems or not (load or (complete and replay_decision)):
        return problems, None
    try:
        recorded = load_run(run_dir, {MANIFEST: manifest, **listed})  # the documents just checked
        result = replay(recorded) if complete and replay_decision else None
    except RunReadError as exc:
        return [Problem.of(exc)], None
    if result is not None and not result.identical:
        fields = ", ".join(f for f, _, _ in result.differences[:5]) or "decision_digest"
        add(rc.REPLAY_MISMATCH, GATE, f"the recorded inputs give another decision ({fields})")
    return problems, recorded


PARALLEL_MIN = 4000
"""Listed files from which ``dome verify`` shares the checking with a second process."""


def _check_listed(
    run_dir: Path, entries: list[dict[str, Any]], present: set[str], parallel: bool | None
) -> tuple[list[Problem], dict[str, Any]]:
    """Problems of the listed files, and the documents of those without any, by path.
    A large run's second half is checked by a forked process at the same time
    (``speedups.split_in_fork``), in the same order."""
    if parallel is None:
        parallel = len(entries) >= PARALLEL_MIN and can_fork()
    if not parallel or len(entries) < 2:
        return _check_entries(run_dir, entries, present)
    half = len(entries) * 9 // 20  # the first part holds the plan, as long to check as many results
    work = functools.partial(_check_entries, run_dir, present=present)
    (problems, listed), (more_problems, more_listed) = split_in_fork(work, entries[:half], entries[half:])
    return problems + more_problems, {**listed, **more_listed}


def _check_entries(
    run_dir: Path, entries: list[dict[str, Any]], present: set[str]
) -> tuple[list[Problem], dict[str, Any]]:
    problems: list[Problem] = []

    def add(code: str, path: str, message: str) -> None:
        problems.append(Problem(code, path, message))

    listed: dict[str, Any] = {}
    for entry in entries:
        rel = entry["path"]
        if rel not in present:
            try:
                safe_join(run_dir, rel)
            except EvidenceError:
                add(rc.EVIDENCE_PATH_ESCAPE, rel, "resolves outside the run folder")
                continue
        kind = entry["kind"]
        try:
            doc = read_document(run_dir, rel, kind, entry["sha256"])
        except RunReadError as exc:
            problems.append(Problem.of(exc))
            continue
        bad = rules(kind, doc)
        for p in bad:
            add(rc.EVIDENCE_INVALID, rel, p)
        if bad:
            continue
        # A task result as the checks and the replay read it: smaller, and quicker
        # to send from the forked process (a 50,000-task run has 50,000 of them).
        if kind == "task.result":
            listed[rel] = CheckedResult(doc["run_id"], read_task_result(doc))
        else:
            listed[rel] = doc
    return problems, listed


def _files(folder: str, prefix: str = "") -> Iterator[tuple[str, bool]]:
    """What is under ``folder`` but folders: (path relative to it with "/", is a
    symbolic link). Links are never followed, so no path found leads out of it."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from _files(entry.path, f"{prefix}{entry.name}/")
            else:
                yield f"{prefix}{entry.name}", entry.is_symlink()


def _check_results(manifest: dict[str, Any], listed: dict[str, Any], add: Any, reported: set[str]) -> None:
    """Every planned task has its final result (one that cannot be read is a problem
    already: one line per file)."""
    plan = listed.get(PLAN)
    if plan is None:
        return
    shard = manifest["shard"]
    planned = {
        t["task_id"]
        for t in plan["tasks"]
        if shard is None or in_shard(t["task_id"], shard["index"], shard["count"])
    }
    results = {rel: doc.record.task_id for rel, doc in listed.items() if isinstance(doc, CheckedResult)}
    for task_id in sorted(planned):
        rel = task_result_path(task_id)
        if rel in reported:
            continue
        if rel not in results:
            add(rc.EVIDENCE_RESULTS_INCOMPLETE, rel, f"planned task {task_id!r} has no final result")
        elif results[rel] != task_id:
            add(rc.EVIDENCE_RESULTS_INCOMPLETE, rel, "the result names another task")
    for rel, named in sorted(results.items()):
        if named not in planned:
            add(rc.EVIDENCE_RESULTS_INCOMPLETE, rel, f"task {named!r} is not planned here")


def _check_consistency(manifest: dict[str, Any], listed: dict[str, Any], add: Any) -> None:
    run_id = manifest["run_id"]
    for rel, doc in sorted(listed.items()):
        if isinstance(doc, CheckedResult):
            named = [doc.run_id]
        else:
            named = [item.get("run_id", run_id) for item in (doc if isinstance(doc, list) else [doc])]
        for other in named:
            if other != run_id:
                add(rc.EVIDENCE_INCONSISTENT, rel, f"run id {other!r}, not {run_id!r}")
    plan, gate, promotion = listed.get(PLAN), listed.get(GATE), listed.get(PROMOTION)
    if plan is not None and plan["input_digest"] != manifest["input_digest"]:
        add(rc.EVIDENCE_INCONSISTENT, PLAN, "input_digest differs from the manifest's")
    if gate is not None:
        if (gate["status"], gate["decision_digest"]) != (
            manifest["gate_status"],
            manifest["decision_digest"],
        ):
            add(rc.EVIDENCE_INCONSISTENT, GATE, "status or digest differs from the manifest's")
        if gate["input_digest"] != manifest["input_digest"]:
            add(rc.EVIDENCE_INCONSISTENT, GATE, "input_digest differs from the manifest's")
        if promotion is not None and promotion["gate_decision_digest"] != gate["decision_digest"]:
            add(rc.EVIDENCE_INCONSISTENT, PROMOTION, "names another gate decision")
        if promotion is not None:
            _check_override(gate, promotion, listed, add)
        envelope = listed.get(ENVELOPE)
        if envelope is not None and promotion is not None:
            expected = (
                promotion["action"],
                gate["decision_digest"],
                gate["input_digest"],
                gate["reason_codes"],
            )
            found = (
                envelope["state"],
                envelope["decision_digest"],
                envelope["input_digest"],
                envelope["reason_codes"],
            )
            if found != expected:
                add(rc.EVIDENCE_INCONSISTENT, ENVELOPE, "disagrees with the gate or promotion decision")


def _check_override(
    gate: dict[str, Any], promotion: dict[str, Any], listed: dict[str, Any], add: Any
) -> None:
    """A promotion differs from the gate's mapping only through a recorded override."""
    records = listed.get(OVERRIDES, [])
    note = promotion["override"]
    if note is None:
        if records:
            add(rc.EVIDENCE_INCONSISTENT, OVERRIDES, "override records, but the promotion has none")
        return
    if not records:
        add(rc.EVIDENCE_INCONSISTENT, PROMOTION, "an override without a record in overrides.jsonl")
        return
    last = records[-1]
    if (last["actor"], last["reason"], last["at"], last["gate_decision_digest"]) != (
        note["actor"],
        note["reason"],
        note["at"],
        gate["decision_digest"],
    ):
        add(rc.EVIDENCE_INCONSISTENT, OVERRIDES, "the last override record differs from the promotion")
