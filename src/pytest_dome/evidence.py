"""The artifact writer: owns every byte dome puts on disk.

Each artifact is written to a temporary file in its own folder and renamed
into place, so no reader ever sees half a file; the manifest is written last
and is the commit point of a run.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .canonical import sha256_hex
from .models import ArtifactEntry, ArtifactKind
from .taskid import is_safe_id


class EvidenceError(OSError):
    """Evidence could not be written."""


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that resolves outside ``root``."""
    root = root.resolve()
    target = (root / relative).resolve()
    if target == root or root not in target.parents:
        raise EvidenceError(f"refused to write {relative!r}: it resolves outside the run folder")
    return target


def render(document: Any) -> bytes:
    """An artifact's bytes: sorted keys, two-space indent, UTF-8, final newline."""
    if isinstance(document, BaseModel):
        document = document.model_dump(mode="json")
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class EarlyResults:
    """Writes final task results while the session still runs, on a background thread.

    File creation is most of the cost of a run's evidence; done here it overlaps
    the tests (the thread waits in system calls, which release the GIL). At the
    end, a result that did not change since is not written again, and a file
    written under a task id the plan did not confirm is removed.
    """

    def __init__(self, run_dir: Path) -> None:
        self.folder = safe_join(run_dir, TASK_RESULTS)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written: dict[str, tuple[Any, ArtifactEntry]] = {}
        self.error: OSError | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="dome-results", daemon=True)
        self._thread.start()

    def submit(self, result: Any) -> None:
        """Queue a task result (a model with a safe ``task_id``) to be written."""
        self._queue.put(result)

    def _run(self) -> None:
        while (result := self._queue.get()) is not None:
            if self.error is not None or not is_safe_id(result.task_id):
                continue  # written, or failed again, at the end
            data = render(result)
            try:
                atomic_write(self.folder / f"{result.task_id}.result.json", data, durable=False)
            except OSError as exc:
                self.error = exc
                continue
            rel = task_result_path(result.task_id)
            self.written[rel] = (
                result_key(result),
                ArtifactEntry(path=rel, kind="task.result", sha256=sha256_hex(data), bytes=len(data)),
            )

    def finish(self) -> dict[str, tuple[Any, ArtifactEntry]]:
        """Wait for the queue to drain; what was written, by relative path."""
        self._queue.put(None)
        self._thread.join()
        return self.written


def result_key(result: Any) -> tuple[Any, ...]:
    """What identifies a task result's content without keeping it (a result only
    changes by gaining attempts): its node, outcome and number of attempts."""
    return (result.node_id, result.outcome, len(result.attempts))


class EvidenceWriter:
    """Writes one run's artifacts under ``run_dir`` and remembers their hashes."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.entries: dict[str, ArtifactEntry] = {}

    def write(
        self, relative: str, kind: ArtifactKind, model: BaseModel, *, durable: bool = True
    ) -> ArtifactEntry:
        return self.write_document(relative, kind, model, durable=durable)

    def write_document(
        self, relative: str, kind: ArtifactKind, document: Any, *, durable: bool = True
    ) -> ArtifactEntry:
        target = safe_join(self.run_dir, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = render(document)
        atomic_write(target, data, durable=durable)
        entry = ArtifactEntry(path=relative, kind=kind, sha256=sha256_hex(data), bytes=len(data))
        self.entries[relative] = entry
        return entry

    def adopt(self, relative: str, kind: ArtifactKind) -> ArtifactEntry:
        """List a file written earlier (the run.started record) in the manifest."""
        data = safe_join(self.run_dir, relative).read_bytes()
        entry = ArtifactEntry(path=relative, kind=kind, sha256=sha256_hex(data), bytes=len(data))
        self.entries[relative] = entry
        return entry

    def sync(self) -> None:
        """Flush everything written with ``durable=False`` to disk in one call."""
        os.sync()

    def artifact_list(self) -> tuple[ArtifactEntry, ...]:
        return tuple(self.entries[path] for path in sorted(self.entries))

    def commit(self, manifest: BaseModel) -> Path:
        """Write the manifest last: the run is complete once it is in place."""
        target = safe_join(self.run_dir, MANIFEST)
        atomic_write(target, render(manifest))
        return target


MANIFEST = "run.manifest.json"
STARTED = "run.started.json"
GATE = "gate/gate.decision.json"
PROMOTION = "promotion/promotion.decision.json"
VERIFY = "checks/verify.results.json"
SESSION = "checks/session.json"
POLICY = "inputs/risk.policy.json"
CHANGE_SET = "inputs/change_set.json"
PACKET = "inputs/packet.json"
PLAN = "plan.json"
ENVELOPE = "promotion/xtrlv2.envelope.json"
OVERRIDES = "promotion/overrides.jsonl"
TASK_RESULTS = "task_results"


def task_result_path(task_id: str) -> str:
    return f"{TASK_RESULTS}/{task_id}.result.json"


def lock_path(run_dir: Path) -> Path:
    return run_dir.with_name(f".{run_dir.name}.lock")


def acquire_lock(run_dir: Path) -> Path:
    """One run id, one writer: a lock file beside the run folder, created atomically.

    A lock left by a session that no longer runs on this machine is taken over.
    """
    lock = lock_path(run_dir)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(lock)
            if holder is not None and _alive(holder):
                raise EvidenceError(
                    f"run id {run_dir.name!r} is in use by another session (pid {holder}, lock "
                    f"{lock.name}); wait for it to finish or pick another run id"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its session is gone
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return lock
    raise EvidenceError(f"cannot take the lock {lock}; remove it if no session is running")


def _lock_holder(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_lock(lock: Path) -> None:
    if _lock_holder(lock) == os.getpid():
        lock.unlink(missing_ok=True)


def abandon_run_dir(run_dir: Path, replaced: Path | None) -> None:
    """Undo :func:`prepare_run_dir` for a run that will not be written (bad input):
    nothing is left claiming to be a run, and a replaced run comes back."""
    shutil.rmtree(run_dir, ignore_errors=True)
    if replaced is not None:
        os.replace(replaced, run_dir)


def prepare_run_dir(
    run_dir: Path, shown_as: str, replace: bool, replace_option: str = "--dome-replace"
) -> Path | None:
    """Make ``run_dir`` ready for a new run; move an old run aside when replacing.

    Returns the folder the old run was moved to (to delete once the new run
    is committed), or None. Refuses to touch existing evidence unless
    ``replace`` is set.
    """
    if run_dir.is_symlink():
        raise EvidenceError(f"run folder {shown_as} is a symbolic link; remove it or pick another run id")
    old = None
    if run_dir.exists() and any(run_dir.iterdir()):
        if not replace:
            raise EvidenceError(
                f"run id {run_dir.name!r} already has evidence in {shown_as}; "
                f"use a new run id, or {replace_option} to replace that run"
            )
        old = run_dir.with_name(f".{run_dir.name}.replaced-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(run_dir, old)
    run_dir.mkdir(parents=True, exist_ok=True)
    return old
