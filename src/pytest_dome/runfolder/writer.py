"""The artifact writer: owns every byte dome puts on disk.

Each artifact is written to a temporary file in its own folder and renamed
into place, so no reader ever sees half a file; the manifest is written last,
by :func:`write_manifest` alone (the session, ``dome merge`` and ``dome
override``), and is the commit point of a run. Files outside a run folder (a
report, attestations, the job summary) are written here too; a run folder's
life (its lock, moving an earlier run aside) is in ``lifecycle``, the writer's
second module, and ``_writer`` is its helper process. ``tests/test_one_writer.py``
keeps every other module from writing a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from ..core.canonical import CHUNK, canonical_ends, chunks, sha256_hex
from ..core.taskid import is_safe_id
from .layout import MANIFEST, RESULT_SUFFIX, TASK_RESULTS, task_result_path
from .speedups import ResultWriterProcess, pack_digest, unpack_digest

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..contracts.models import ArtifactKind


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


def write_output(path: Path, data: bytes) -> None:
    """A file outside any run folder (a report, an SLO record): its folder made if
    needed, the file written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)


def write_together(files: Mapping[Path, bytes]) -> None:
    """Write every file or none (``dome attest``'s pair): their folders made, each
    written atomically; on an ``OSError`` those already written are removed and the
    error raised."""
    written: list[Path] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
            written.append(path)
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def append_text(path: Path, text: str) -> None:
    """Append ``text`` to a file someone else owns (GitHub's job summary)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


class TaskResultFiles:
    """The ``task_results/`` folder of a session's run: each final result's file is
    created as soon as the result is known, by a helper process
    (``speedups.ResultWriterProcess``) while the tests go on; what was handed over
    is remembered for the manifest. When the helper could not start or failed,
    :meth:`finish` says so and the session's finish writes every result itself."""

    def __init__(self, run_dir: Path) -> None:
        folder = safe_join(run_dir, TASK_RESULTS)
        folder.mkdir(parents=True, exist_ok=True)
        self.writer = ResultWriterProcess(folder)
        self.written: dict[str, bytes] = {}
        """Task id -> :func:`pack_digest` of its file."""

    def write(self, task_id: str, data: bytes) -> None:
        if self.writer.running and is_safe_id(task_id):
            self.writer.submit(f"{task_id}{RESULT_SUFFIX}", data)
            self.written[task_id] = pack_digest(data)

    def finish(self) -> dict[str, bytes]:
        """Wait for the helper; the files it wrote (none when it failed)."""
        written, self.written = self.written, {}
        return written if self.writer.finish() else {}

    def abandon(self) -> None:
        self.writer.abandon()


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


def in_path_order(task_ids: list[str]) -> list[str]:
    """``task_ids`` sorted (in place) in the order of their result files' paths,
    which is not task id order: "a-b.result.json" and "a.b.result.json" sort
    before "a.result.json". Sorted as ids first, then each id moved back past
    those whose path sorts after its own, two paths made at a time: a sort keyed
    by path held every path at once (60,000 long ids: 10 MiB, the finish's
    peak). Only an id that is another's prefix moves."""
    task_ids.sort()
    for i in range(1, len(task_ids)):
        task_id, j = task_ids[i], i
        path = task_id + RESULT_SUFFIX
        while j > 0 and path < task_ids[j - 1] + RESULT_SUFFIX:
            task_ids[j] = task_ids[j - 1]
            j -= 1
        task_ids[j] = task_id
    return task_ids


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
        ids = in_path_order(list(task_results))
        self._items: list[Entry | str] = [*before, *ids, *after]
        self._task_results = task_results

    def __len__(self) -> int:
        return len(self._items)

    def _entry(self, item: Entry | str) -> Entry:
        if isinstance(item, Entry):
            return item
        kept = self._task_results[item]
        sha, size = unpack_digest(kept)
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
        self._results_folder: Path | None = None

    def write(self, relative: str, kind: ArtifactKind, model: BaseModel, *, durable: bool = True) -> Entry:
        return self.write_document(relative, kind, model, durable=durable)

    def write_document(
        self, relative: str, kind: ArtifactKind, document: Any, *, durable: bool = True
    ) -> Entry:
        return self.write_data(relative, kind, render(document), durable=durable)

    def write_data(
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
        """Write a task's result file (flushed to disk by :meth:`sync`) and list it.
        The folder is resolved once; a safe task id is one file name in it."""
        if self._results_folder is None:
            self._results_folder = safe_join(self.run_dir, TASK_RESULTS)
            self._results_folder.mkdir(parents=True, exist_ok=True)
        if is_safe_id(task_id):
            target = self._results_folder / f"{task_id}{RESULT_SUFFIX}"
        else:
            target = safe_join(self.run_dir, task_result_path(task_id))  # refuses what escapes
            target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data, durable=False)
        self.task_results[task_id] = pack_digest(data)

    def drop_task_result(self, task_id: str) -> None:
        """Remove a task's result file and its listing (one written under a task id
        the plan does not have)."""
        self.task_results.pop(task_id, None)
        safe_join(self.run_dir, task_result_path(task_id)).unlink(missing_ok=True)

    def adopt_task_results(self, written: dict[str, bytes]) -> None:
        """List the task result files written earlier (task id -> :func:`pack_digest`
        of the file): the dict becomes the writer's own record, not a copy of it."""
        written.update(self.task_results)
        self.task_results = written

    def sync(self) -> None:
        """Flush everything written with ``durable=False`` to disk in one call."""
        os.sync()

    def artifact_list(self) -> Sequence[Entry]:
        """Every artifact's entry in path order; the task results' are made as read."""
        return _Entries(self.entries, self.task_results)

    def commit(self, manifest: dict[str, Any]) -> str:
        """Write the manifest last (:func:`write_manifest`): the run is complete once
        it is in place. Returns the manifest digest."""
        return write_manifest(self.run_dir, manifest, self.artifact_list())


def write_manifest(run_dir: Path, manifest: dict[str, Any], artifacts: Sequence[Entry]) -> str:
    """The one renderer of ``run.manifest.json``, for the session, ``dome merge`` and
    ``dome override`` alike. ``manifest``: its JSON document without ``artifacts``
    and ``manifest_digest``, both added here; ``artifacts``: every file's entry, in
    path order. The bytes :func:`render` gives for the whole document, in one pass
    over the entries (``CHUNK`` at a time, each made once: a large run's task
    results' entries are made as read): each chunk is rendered (:func:`entry_pretty`)
    and hashed in its canonical form (:func:`entry_canonical`, as ``canonical_digest``
    would), and the digest, known at the end, is put in the document's tail.
    Returns the manifest digest."""
    canonical_head, canonical_tail = canonical_ends(manifest, "artifacts")
    hasher = hashlib.sha256(canonical_head)
    unknown = f'"manifest_digest": "{"0" * 64}"'.encode()
    whole = render({**manifest, "manifest_digest": "0" * 64, "artifacts": []})
    head, sep, tail = whole.partition(b'\n  "artifacts": []')
    if not sep or tail.count(unknown) != 1:
        raise ValueError("a manifest's artifacts must be a top-level key")

    def pieces() -> Iterator[bytes]:
        yield head + b'\n  "artifacts": ['
        for start in range(0, len(artifacts), CHUNK):
            entries = artifacts[start : start + CHUNK]
            lead = "," if start else ""
            hasher.update((lead + ",".join(map(entry_canonical, entries))).encode("utf-8"))
            yield (lead + ",".join(map(entry_pretty, entries))).encode("utf-8")
        hasher.update(canonical_tail)
        found = f'"manifest_digest": "{hasher.hexdigest()}"'.encode()
        yield (b"\n  ]" if artifacts else b"]") + tail.replace(unknown, found)

    atomic_write(safe_join(run_dir, MANIFEST), pieces())
    return hasher.hexdigest()
