"""A run folder's life, the writer's second module: one writer per run id (a lock
beside the folder), a writable runtime folder, a fresh folder for a new run, the
earlier run moved aside when it is replaced, put back when the new run is
abandoned and deleted once the new one is committed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .safejson import read_file
from .writer import EvidenceError


def probe_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written in it (an
    ``OSError`` says why not)."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".dome-write-probe-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


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
    try:  # a pid and a newline; not a FIFO that would block the reader
        return int(read_file(lock, 64).decode().strip() or "0") or None
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


def drop_replaced(replaced: Path | None) -> None:
    """Delete the earlier run :func:`prepare_run_dir` moved aside, once the new run
    is committed."""
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)


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
