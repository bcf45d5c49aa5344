"""A run folder's life, the writer's second module: one writer per run id (a lock
beside the folder), a writable runtime folder, a fresh folder for a new run, the
earlier run moved aside when it is replaced, put back when the new run is
abandoned and removed once the new one is committed.

Removing thousands of files is slow (on ext4 it also slows the files created
next), so no session waits for it. Two hidden names beside the run folder, both
dotted, so that no reader takes them for a run:

- ``.<id>.replaced-<ns>-<pid>``: a whole earlier run, moved aside by one rename
  while the new run is written. Only the session that made it touches it (it is
  put back when the new run is abandoned, and handed on once it is committed),
  or, once that process is gone, the next session of the same id.
- ``.<id>.removing-<ns>-<pid>``: garbage, renamed from the above once the new run is
  committed, and removed by a detached process (:data:`REMOVER`) the session
  does not wait for. A remover killed half-way leaves it for the next session in
  that folder, which starts another remover.

A crash at any point leaves under the run id either the old run or the new
one: the next session of that id puts back an earlier run whose replacement
never created its folder, and removes one whose replacement did.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
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


REPLACED = ".replaced-"
REMOVING = ".removing-"
ASIDE = re.compile(
    r"\.(?P<id>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<kind>\.replaced-|\.removing-)(?P<tail>(?:\d+-)?(?P<pid>\d+))"
)
"""A hidden folder beside a run folder that this module made: the run id, the kind
and ``<ns>-<pid>`` (``<pid>`` alone in the names of earlier versions)."""

REMOVER = """
import fcntl, os, shutil, sys
try:
    os.nice(10)
except OSError:
    pass
for path in sys.argv[1:]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        continue
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        continue
    shutil.rmtree(path, ignore_errors=True)
    os.close(fd)
"""
"""The detached remover: ``python -I -c REMOVER FOLDER...`` (isolated: nothing from
the current folder or the environment is imported). Each folder is removed
under an exclusive ``flock`` on it, so two removers never share one; a lock
dies with its process, so a killed remover's folder is taken up again."""


def _aside(run_dir: Path, kind: str) -> Path:
    return run_dir.with_name(f".{run_dir.name}{kind}{time.time_ns()}-{os.getpid()}")


def _unclaimed(folder: Path) -> bool:
    """No remover holds ``folder`` (POSIX ``flock``; elsewhere every folder is)."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False  # gone already (or not a folder: a remover leaves it)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # releases the lock taken just now
    return True


def remove_in_background(folders: list[Path]) -> None:
    """Remove ``folders`` (each a hidden ``removing`` folder) in a process of its own
    session, with no standard stream of ours, which this process never waits for.
    Where there is no ``fork``-free spawn with ``flock`` (Windows), remove them now."""
    if not folders:
        return
    if hasattr(os, "posix_spawn") and sys.executable:
        devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        argv = [sys.executable, "-I", "-c", REMOVER, *map(os.fspath, folders)]
        try:  # no Popen: nothing to reap or warn about at exit; our other fds are not inherited
            os.posix_spawn(sys.executable, argv, os.environ, file_actions=devnull, setsid=True)
            return
        except (OSError, NotImplementedError):
            pass
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def drop_replaced(replaced: Path | None) -> None:
    """Hand the earlier run :func:`prepare_run_dir` moved aside to a background
    remover, once the new run is committed: one rename, and no wait."""
    if replaced is None:
        return
    garbage = _as_garbage(replaced)
    try:
        os.replace(replaced, garbage)
    except OSError:
        return  # gone or unreachable: the next session in this folder sweeps it
    remove_in_background([garbage])


def _as_garbage(aside: Path) -> Path:
    match = ASIDE.fullmatch(aside.name)
    assert match is not None, aside
    return aside.with_name(f".{match['id']}{REMOVING}{match['tail']}")


def _sort_key(tail: str) -> int:
    """When an aside was made (0 for a name of an earlier version: the oldest)."""
    return int(tail.split("-")[0]) if "-" in tail else 0


def _sweep(run_dir: Path) -> None:
    """Clear what crashed sessions left beside ``run_dir`` (under its id's lock): an
    earlier run of this id that a session moved aside and never handed on (its
    process is gone) comes back when the new run never created its folder, and
    is garbage when it did; every ``removing`` folder that no remover holds is
    removed in the background."""
    try:
        names = os.listdir(run_dir.parent)
    except OSError:
        return
    asides = [m for m in map(ASIDE.fullmatch, names) if m is not None]
    garbage = [run_dir.parent / m.string for m in asides if m["kind"] == REMOVING]
    stale = [m for m in asides if m["kind"] == REPLACED and m["id"] == run_dir.name]
    stale = sorted((m for m in stale if not _alive(int(m["pid"]))), key=lambda m: _sort_key(m["tail"]))
    try:
        fresh = not run_dir.exists() or not any(run_dir.iterdir())
    except OSError:
        fresh = False
    for number, match in enumerate(reversed(stale)):
        aside = run_dir.parent / match.string
        try:
            if number == 0 and fresh:  # killed between moving it aside and starting the new run
                os.replace(aside, run_dir)
            else:
                os.replace(aside, _as_garbage(aside))
                garbage.append(_as_garbage(aside))
        except OSError:
            continue  # left as it is: what cannot be moved never stops a run
    remove_in_background([g for g in garbage if _unclaimed(g)])


def prepare_run_dir(
    run_dir: Path, shown_as: str, replace: bool, replace_option: str = "--dome-replace"
) -> Path | None:
    """Make ``run_dir`` ready for a new run; move an old run aside when replacing.

    Returns the folder the old run was moved to (for :func:`drop_replaced` once
    the new run is committed, or :func:`abandon_run_dir`), or None. First clears
    what crashed sessions left beside it (:func:`_sweep`). Refuses to touch existing evidence unless
    ``replace`` is set.
    """
    if run_dir.is_symlink():
        raise EvidenceError(f"run folder {shown_as} is a symbolic link; remove it or pick another run id")
    _sweep(run_dir)
    old = None
    if run_dir.exists() and any(run_dir.iterdir()):
        if not replace:
            raise EvidenceError(
                f"run id {run_dir.name!r} already has evidence in {shown_as}; "
                f"use a new run id, or {replace_option} to replace that run"
            )
        old = _aside(run_dir, REPLACED)
        os.replace(run_dir, old)
    run_dir.mkdir(parents=True, exist_ok=True)
    return old
