"""Reading the JSON files of a run folder (and the files a reader is given) safely.

Every reader of a run folder goes through :func:`read_json` (or :func:`read_file`
and :func:`parse`): a crafted run must end in one line saying what is wrong,
never in a traceback, a hang or an exhausted memory. Refused:

- a file that is not a regular file (a FIFO is opened without blocking and
  refused, so is a device or a folder); symbolic links are followed as before
  (the run folder's own rules about them are ``audit.py``'s);
- a file over the size limit of its kind (:data:`LIMITS`), before it is read;
- bytes that are not UTF-8;
- nesting deeper than :data:`MAX_DEPTH` (checked before parsing, without recursion);
- ``NaN``, ``Infinity``, a number too large for a float and an integer beyond
  +-(2**53 - 1), the range JSON numbers keep everywhere (RFC 7493, I-JSON);
- anything else that is not one JSON document.

A leaf module: it imports nothing of pytest-dome.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

MiB = 1 << 20

LIMITS: dict[str, int] = {
    # Lists that grow with the run's tasks (or changed files): room for a
    # million tasks with long node ids.
    "run.manifest": 256 * MiB,
    "plan": 256 * MiB,
    "gate.decision": 256 * MiB,
    "baseline.summary": 256 * MiB,
    "change_set": 256 * MiB,
    # One task: its node id and at most 11 attempts with 1,000-character summaries.
    "task.result": 4 * MiB,
}
"""The largest file read for each kind of artifact, in bytes (others: :data:`DEFAULT_LIMIT`)."""

DEFAULT_LIMIT = 16 * MiB
"""The verify results (2,000 characters of output per command), the session record,
the policy, the packet, the decisions' envelope and promotion, the override records,
run.started.json and an attestation."""

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects read; dome's artifacts use at most 7."""

MAX_INT = 2**53 - 1


class Refused(ValueError):
    """A file not taken as a JSON document: one line saying why (without the path)."""


def limit_of(kind: str) -> int:
    return LIMITS.get(kind, DEFAULT_LIMIT)


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n:,} bytes"


_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_TYPES = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def read_file(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Raises :class:`Refused` for anything else than a regular file, or one
    larger than ``limit``; ``OSError`` as ``open`` does (FileNotFoundError...)."""
    fd = os.open(path, _FLAGS)  # never blocks: a FIFO without a writer opens at once
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = next((name for test, name in _TYPES if test(info.st_mode)), "not a file")
            raise Refused(f"not a regular file ({what})")
        if info.st_size > limit:
            raise Refused(f"larger than the {_size(limit)} a reader takes ({info.st_size:,} bytes)")
        pieces = []
        size = 0
        while piece := os.read(fd, max(info.st_size - size, 0) + 1):  # the last read sees the end
            size += len(piece)
            if size > limit:  # grew while read
                raise Refused(f"larger than the {_size(limit)} a reader takes")
            pieces.append(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a regular file's bytes, read a MiB at a time; anything else
    (a FIFO put in a file's place, a device) is an ``OSError``, never a hang."""
    hasher = hashlib.sha256()
    fd = os.open(path, _FLAGS)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        for block in iter(lambda: fh.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _no_constant(name: str) -> Any:
    raise Refused(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Refused(f"{text[:20]} is too large for a number")
    return value


def _bounded(text: str) -> int:
    # Length first: converting a long string of digits is slow (quadratic before 3.11).
    if len(text) > 17 or abs(value := int(text)) > MAX_INT:
        raise Refused(f"{text[:20]}{'...' if len(text) > 20 else ''} is beyond +-(2**53 - 1)")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise Refused(f"the key {key!r} appears twice in one object (readers disagree on which counts)")
        document[key] = value
    return document


_DECODER = json.JSONDecoder(parse_float=_finite, parse_int=_bounded, parse_constant=_no_constant)
_UNIQUE_DECODER = json.JSONDecoder(
    parse_float=_finite, parse_int=_bounded, parse_constant=_no_constant, object_pairs_hook=_unique
)
"""For what is signed or attested: a key named twice is refused (a Python callback
per object, so not for the run folder's large artifacts, which dome writes itself
and checks against its manifest's hashes)."""
_ONLY_MARKS = bytes(b for b in range(256) if b not in b'"[]{}')
_STRING = re.compile(rb'"[^"]*"')
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")


def check_depth(data: bytes, max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON text nested deeper than ``max_depth``, without recursion (the
    parser's own recursion is what a deep document would exhaust). Every step is
    one pass of C code over the bytes: a large plan is checked in milliseconds."""
    if data.count(b"[") + data.count(b"{") <= max_depth:  # a small document: at once
        return
    if b"\\" in data:  # escapes, left to right as a parser pairs them: \\ then \"
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # The quotes and brackets; two quotes with nothing between them left close a
    # string or hold an empty one: gone, the brackets inside strings stay quoted.
    marks = data.translate(None, _ONLY_MARKS).replace(b'""', b"")
    brackets = _STRING.sub(b"", marks).replace(b'"', b"") if b'"' in marks else marks
    left = brackets
    for _ in range(max_depth):  # each pass removes the innermost pairs: one level
        left, removed = _EMPTY_PAIR.subn(b"", left)
        if not removed:
            break
    if not left:
        return
    if _EMPTY_PAIR.search(left):
        raise Refused(f"nested deeper than {max_depth} levels")
    # Unbalanced, so not JSON: but how deep would a parser go before it saw that?
    depth = 0
    for b in brackets:
        depth += 1 if b in b"[{" else -1
        if depth > max_depth:
            raise Refused(f"nested deeper than {max_depth} levels")


def parse(data: bytes, unique_keys: bool = False) -> Any:
    """One JSON document from UTF-8 ``data``. Raises ``json.JSONDecodeError`` for
    what is not JSON, :class:`Refused` for what dome does not read (both
    ``ValueError``s of one line); ``unique_keys``: also an object that names a key
    twice."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})") from None
    check_depth(data)
    return (_UNIQUE_DECODER if unique_keys else _DECODER).decode(text)


def parse_lines(data: bytes) -> list[Any]:
    """JSON Lines: one document per line ending in a newline; blank lines skipped."""
    out = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if line.strip():
            try:
                out.append(parse(line))
            except ValueError as exc:
                raise Refused(f"line {number}: {exc}") from None
    return out


def read_json(path: str | Path, kind: str, unique_keys: bool = False) -> Any:
    """:func:`parse` of :func:`read_file` under the limit of ``kind``."""
    return parse(read_file(path, limit_of(kind)), unique_keys)
