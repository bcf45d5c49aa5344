"""The artifact writer: owns every byte dome puts on disk.

Each artifact is written to a temporary file in its own folder and renamed
into place, so no reader ever sees half a file; the manifest is written last
and is the commit point of a run.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from .canonical import canonical_digest, chunks, sha256_hex
from .taskid import is_safe_id

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .models import ArtifactKind


class EvidenceError(OSError):
    """Evidence could not be written."""


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that resolves outside ``root``."""
    root = root.resolve()
    target = (root / relative).resolve()
    if target == root or root not in target.parents:
        raise EvidenceError(f"refused to write {relative!r}: it resolves outside the run folder")
    return target


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector paused while a run is written or read: that makes tens
    of thousands of objects and no reference cycles, and every automatic full
    collection on the way would scan all of them (and, in a session, all of
    pytest's) again. ``dome verify`` of 50,000 tasks: 3.3 s -> 2.9 s."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def render(document: Any) -> bytes:
    """An artifact's bytes: sorted keys, two-space indent, UTF-8, final newline."""
    if hasattr(document, "model_dump"):  # a pydantic model
        document = document.model_dump(mode="json")
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def render_parts(
    document: dict[str, Any], key: str, items: Sequence[Any], pretty_item: Callable[[Any], str]
) -> Iterator[bytes]:
    """:func:`render` of ``document`` with ``document[key] = items`` (a top-level key),
    in pieces: the long list of a large run is rendered ``CHUNK`` items at a time by
    ``pretty_item`` (which must give what :func:`render` gives for one item: a
    newline, then the item indented by four spaces)."""
    head, sep, tail = render({**document, key: []}).partition(f'\n  "{key}": []'.encode())
    if not sep:
        raise ValueError(f"{key!r} is not a top-level key")
    yield head + f'\n  "{key}": ['.encode()
    if items:
        for text in chunks(items, pretty_item, ","):
            yield text.encode("utf-8")
        yield b"\n  ]"
    else:
        yield b"]"
    yield tail


def atomic_write(path: Path, data: bytes | Iterable[bytes], *, durable: bool = True) -> tuple[str, int]:
    """Write ``data`` (bytes, or pieces of it) to ``path`` through a temporary file in
    the same folder; its SHA-256 and size."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    hasher = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "wb") as fh:
            for piece in (data,) if isinstance(data, bytes) else data:
                fh.write(piece)
                hasher.update(piece)
                size += len(piece)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return hasher.hexdigest(), size


class EarlyResults:
    """Writes final task results while the session still runs, in a helper process.

    Creating one file per task is most of the cost of a large run's evidence.
    The session renders each result and hands the bytes, in batches, through a
    pipe to ``_writer.py``, which creates the files on another core (a thread
    would compete with the tests for the GIL at every system call). At the end,
    a result that did not change since is not written again, a file written
    under a task id the plan did not confirm is removed, and if the helper
    failed (or could not start) the session writes every result itself.
    """

    BATCH = 1 << 16
    """Bytes buffered before a write to the pipe (a hundred results or so)."""
    BACKLOG = 1 << 23
    """Bytes the session holds for a busy helper before it waits for it."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = safe_join(run_dir, TASK_RESULTS)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written: dict[str, bytes] = {}
        """Task id -> its key, then the SHA-256 and size of what was sent: one small
        bytes object per task (50,000 of them at 80 bytes)."""
        self.error: str | None = None
        self._buffer = bytearray()
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(Path(__file__).with_name("_writer.py")), str(self.folder)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            self.error = f"cannot start the result writer: {exc.strerror or exc}"
            return
        assert self._proc.stdin is not None
        self._fd = self._proc.stdin.fileno()
        try:
            if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: room for a thousand results or so
                fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, 1 << 20)
            os.set_blocking(self._fd, False)  # the tests do not wait for the disk
        except OSError:
            pass  # a smaller pipe, or writes that wait: slower, not wrong

    def submit(self, task_id: str, data: bytes, key: bytes) -> None:
        """Queue a task result's bytes; ``key`` (``run.result_key``) identifies its
        content at the end."""
        if self._proc is None or not is_safe_id(task_id):
            return  # written at the end
        name = f"{task_id}{RESULT_SUFFIX}".encode()
        self._buffer += _FRAME.pack(len(name), len(data))
        self._buffer += name
        self._buffer += data
        self.written[task_id] = key + _digest_and_size(data)
        if len(self._buffer) >= self.BATCH:
            self._flush(wait=len(self._buffer) >= self.BACKLOG)

    def _flush(self, wait: bool) -> None:
        """Send what the pipe takes now; with ``wait``, everything."""
        while self._buffer and self.error is None:
            try:
                sent = os.write(self._fd, self._buffer)
            except BlockingIOError:
                if not wait:
                    return
                select.select([], [self._fd], [])
                continue
            except OSError as exc:
                self.error = f"the result writer stopped: {exc.strerror or exc}"
                break
            del self._buffer[:sent]
        if self.error is not None:
            self._buffer.clear()

    def finish(self) -> dict[str, bytes]:
        """Wait for the helper to write everything; what it wrote, by task id
        (see :func:`early_entry`), or nothing when it failed."""
        if self._proc is None:
            return {}
        self._flush(wait=True)
        proc, self._proc = self._proc, None
        try:
            out, _ = proc.communicate()
        except OSError as exc:
            self.error = self.error or f"the result writer stopped: {exc.strerror or exc}"
            proc.kill()
            proc.wait()
            return {}
        line = out.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or not line.startswith("ok "):
            self.error = self.error or line.removeprefix("error ") or f"exit status {proc.returncode}"
        return {} if self.error is not None else self.written

    def abandon(self) -> None:
        """Stop the helper without waiting for its writes (the run is not written)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()


_FRAME = struct.Struct("!HI")


def early_entry(kept: bytes) -> tuple[bytes, str, int]:
    """An :attr:`EarlyResults.written` value (or an ``EvidenceWriter.task_results``
    one, whose key is empty) as ``(key, sha256 hex, size)``."""
    return kept[:-40], kept[-40:-8].hex(), int.from_bytes(kept[-8:], "big")


def _digest_and_size(data: bytes) -> bytes:
    """What a task result's manifest entry needs: its raw SHA-256 and size (40 bytes;
    the tail of an :attr:`EarlyResults.written` value)."""
    return hashlib.sha256(data).digest() + len(data).to_bytes(8, "big")


class Entry(NamedTuple):
    """A manifest's ``artifacts`` entry (the fields of ``models.ArtifactEntry``)."""

    path: str
    kind: str
    sha256: str
    bytes: int


def entry_pretty(entry: Entry) -> str:
    """An entry as :func:`render` writes it inside the manifest's list."""
    return (
        "\n    {\n"
        f'      "bytes": {entry.bytes},\n'
        f'      "kind": {encode_basestring(entry.kind)},\n'
        f'      "path": {encode_basestring(entry.path)},\n'
        f'      "sha256": {encode_basestring(entry.sha256)}\n'
        "    }"
    )


def entry_canonical(entry: Entry) -> str:
    """An entry as ``canonical.canonical_json`` writes it."""
    return (
        f'{{"bytes":{entry.bytes},"kind":{encode_basestring(entry.kind)},'
        f'"path":{encode_basestring(entry.path)},"sha256":{encode_basestring(entry.sha256)}}}'
    )


class _Entries(Sequence[Entry]):
    """Manifest entries in path order: the regular artifacts' as written, each task
    result's made when read (``chunks`` reads 2,000 at a time) from its record."""

    def __init__(self, entries: dict[str, Entry], task_results: dict[str, bytes]) -> None:
        folder = f"{TASK_RESULTS}/"
        regular = [entries[path] for path in sorted(entries)]
        before = [e for e in regular if e.path < folder]
        after = [e for e in regular if e.path >= folder]
        if any(e.path.startswith(folder) for e in after):
            raise ValueError(f"a regular artifact under {folder}")  # task results are listed apart
        # In path order, which is not task id order: "a-b.result.json" and
        # "a.b.result.json" sort before "a.result.json".
        ids = sorted(task_results, key=lambda task_id: task_id + RESULT_SUFFIX)
        self._items: list[Entry | str] = [*before, *ids, *after]
        self._task_results = task_results

    def __len__(self) -> int:
        return len(self._items)

    def _entry(self, item: Entry | str) -> Entry:
        if isinstance(item, Entry):
            return item
        _, sha, size = early_entry(self._task_results[item])
        return Entry(task_result_path(item), "task.result", sha, size)

    @overload
    def __getitem__(self, index: int) -> Entry: ...
    @overload
    def __getitem__(self, index: slice) -> list[Entry]: ...
    def __getitem__(self, index: int | slice) -> Entry | list[Entry]:
        if isinstance(index, slice):
            return [self._entry(item) for item in self._items[index]]
        return self._entry(self._items[index])


class EvidenceWriter:
    """Writes one run's artifacts under ``run_dir`` and remembers their hashes."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.entries: dict[str, Entry] = {}
        self.task_results: dict[str, bytes] = {}
        """Task id -> its result file's raw SHA-256 and size in the last 40 bytes: a
        run has one per task, and an :class:`Entry` each (path and hex digest as
        strings) made a 50,000-task run's finish about 15 MiB larger."""

    def write(self, relative: str, kind: ArtifactKind, model: BaseModel, *, durable: bool = True) -> Entry:
        return self.write_document(relative, kind, model, durable=durable)

    def write_document(
        self, relative: str, kind: ArtifactKind, document: Any, *, durable: bool = True
    ) -> Entry:
        return self.write_bytes(relative, kind, render(document), durable=durable)

    def write_bytes(
        self, relative: str, kind: ArtifactKind, data: bytes | Iterable[bytes], *, durable: bool = True
    ) -> Entry:
        """Write an artifact's bytes (or pieces of them) and list it."""
        target = safe_join(self.run_dir, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        sha, size = atomic_write(target, data, durable=durable)
        entry = self.entries[relative] = Entry(relative, kind, sha, size)
        return entry

    def adopt(self, relative: str, kind: ArtifactKind) -> Entry:
        """List a file written earlier (the run.started record) in the manifest."""
        data = safe_join(self.run_dir, relative).read_bytes()
        entry = self.entries[relative] = Entry(relative, kind, sha256_hex(data), len(data))
        return entry

    def write_task_result(self, task_id: str, data: bytes) -> None:
        """Write a task's result file (flushed to disk by :meth:`sync`) and list it."""
        target = safe_join(self.run_dir, task_result_path(task_id))
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data, durable=False)
        self.task_results[task_id] = _digest_and_size(data)

    def list_task_result(self, task_id: str, written: bytes) -> None:
        """List a task result file written earlier: ``written`` ends with its raw
        SHA-256 and size (an :attr:`EarlyResults.written` value)."""
        self.task_results[task_id] = written

    def sync(self) -> None:
        """Flush everything written with ``durable=False`` to disk in one call."""
        os.sync()

    def artifact_list(self) -> Sequence[Entry]:
        """Every artifact's entry in path order; the task results' are made as read."""
        return _Entries(self.entries, self.task_results)

    def commit(self, manifest: dict[str, Any]) -> str:
        """Write the manifest last (``manifest``: its JSON document without
        ``artifacts`` and ``manifest_digest``, both added here): the run is
        complete once it is in place. Returns the manifest digest."""
        artifacts = self.artifact_list()
        digest_value = canonical_digest(manifest, "artifacts", artifacts, entry_canonical)
        document = {**manifest, "manifest_digest": digest_value}
        target = safe_join(self.run_dir, MANIFEST)
        atomic_write(target, render_parts(document, "artifacts", artifacts, entry_pretty))
        return digest_value


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


RESULT_SUFFIX = ".result.json"


def task_result_path(task_id: str) -> str:
    return f"{TASK_RESULTS}/{task_id}{RESULT_SUFFIX}"


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
