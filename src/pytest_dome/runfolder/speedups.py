"""Every performance device pytest-dome uses, in one place, with what it buys.

The rest of the code is written plainly; what is here is not, and each device
stays only while it buys at least 2 % of wall time (or the target it exists
for) on a real suite. Measured on this repository's benchmark machine (2
cores, ext4; see ``docs/performance.md``), on jsonschema 4.25.1's own suite
(7,815 tests) and a 60,000-test suite with long node ids:

- :func:`gc_paused` / :class:`ExitCollectionPause`: no automatic full garbage
  collection while a run is planned, written or read, nor from the session's
  finish to pytest's own five at exit. Those phases make tens of thousands of
  objects without cycles; a full collection they bring on rescans the whole
  session for nothing (one full collection of a 60,000-test session: about
  0.4 s). ``dome verify`` of 50,000 tasks: 3.3 -> 2.9 s.
- :class:`ResultWriterProcess`: the task result files are created by a helper
  process, fed through a pipe, on the core a serial session leaves idle.
  Creating a file on this machine's ext4 costs 30-800 µs of kernel time
  (erratic: it depends on recently freed inodes); jsonschema's suite, serial,
  evidence on ext4: the session itself would pay 2-6 s of its 11 s.
  Measured with ``benchmarks/devices_off.py`` (jsonschema, serial, tmpfs, 4
  rounds): dome/bare 1.121 with every device, 1.152 without the pause from the
  finish to exit (3 %), 1.144 without the writer process (2 %; on ext4 it also
  keeps the file system's kernel time, 3 s of CPU in that run, off the
  session's core). Under ``-n 2``: 1.046 with it, 1.069 without (tmpfs).
- :func:`pack_digest`: a written task result is remembered as 40 bytes (its
  raw SHA-256 and size) until the manifest is written, not as a hex string and
  an int: 60,000 tasks, about 9 MiB less at the finish's peak.
- :func:`split_in_fork`: ``dome verify`` of a large run checks the second
  half of the files in a forked copy of itself (pure-Python checks: threads
  would take turns). 50,000 tasks: 2.46 -> 2.19 s (12 %).

Kept in plain form where they are used: the task runner keeps the plan as
exact tuples, not named tuples (untracked by the garbage collector: a 50,000
task run had one full collection more), and the xdist controller parses the
plan a worker sent sharing the collected node ids' strings (5 MiB less at
50,000 tasks).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import multiprocessing
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

if TYPE_CHECKING:
    import pytest

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
hookimpl = pluggy.HookimplMarker("pytest")  # pytest's own, without importing pytest (dome verify)


# --- the garbage collector ------------------------------------------------------


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic garbage collection inside the block (a collector the user
    disabled stays disabled)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ExitCollectionPause:
    """Pauses automatic garbage collection from the session's finish until pytest's
    own collections at exit are done (its unraisable-exception cleanup runs
    ``gc.collect()`` five times). Bare pytest ends before the full collection it
    has due; the objects a gated run's finish makes would bring it on. Create it
    in ``pytest_configure`` (its cleanup is then popped after pytest's)."""

    def __init__(self, config: pytest.Config) -> None:
        self._paused = False
        config.add_cleanup(self.resume)

    @hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self) -> Generator[None, None, None]:
        if gc.isenabled():
            gc.disable()
            self._paused = True
        return (yield)

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            gc.enable()


# --- a helper process that creates the task result files ------------------------

FRAME = struct.Struct("!HI")
"""A frame to the writer: name length, data length; then the name and the data."""


class ResultWriterProcess:
    """Creates task result files in a helper process (``_writer.py``) while the
    session runs: the session hands each file's bytes, in batches, through a
    non-blocking pipe. :meth:`finish` waits for it and says whether every file
    was written; when it was not (or the helper could not start), the caller
    writes the results itself."""

    BATCH = 1 << 16
    """Bytes buffered before a write to the pipe (a hundred results or so)."""
    BACKLOG = 1 << 23
    """Bytes the session holds for a busy helper before it waits for it."""

    def __init__(self, folder: Path) -> None:
        self.error: str | None = None
        self._buffer = bytearray()
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(Path(__file__).with_name("_writer.py")), str(folder)],
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

    @property
    def running(self) -> bool:
        return self._proc is not None and self.error is None

    def submit(self, name: str, data: bytes) -> None:
        """Queue file ``name`` (one safe path component) with ``data``."""
        encoded = name.encode()
        self._buffer += FRAME.pack(len(encoded), len(data))
        self._buffer += encoded
        self._buffer += data
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

    def finish(self) -> bool:
        """Wait for the helper to write everything; True when it did."""
        if self._proc is None:
            return False
        self._flush(wait=True)
        proc, self._proc = self._proc, None
        try:
            out, _ = proc.communicate()
        except OSError as exc:
            self.error = self.error or f"the result writer stopped: {exc.strerror or exc}"
            proc.kill()
            proc.wait()
            return False
        line = out.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or not line.startswith("ok "):
            self.error = self.error or line.removeprefix("error ") or f"exit status {proc.returncode}"
        return self.error is None

    def abandon(self) -> None:
        """Stop the helper without waiting for its writes (the run is not written)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()


# --- a written file remembered in 40 bytes ----------------------------------------


def pack_digest(data: bytes) -> bytes:
    """What a task result's manifest entry needs of its file: raw SHA-256 and size."""
    return hashlib.sha256(data).digest() + len(data).to_bytes(8, "big")


def unpack_digest(packed: bytes) -> tuple[str, int]:
    """``(sha256 hex, size)`` of a :func:`pack_digest` value."""
    return packed[:32].hex(), int.from_bytes(packed[32:], "big")


# --- a forked copy of the process for half of a pure-Python job -------------------


def can_fork() -> bool:
    """A forked copy of this process is safe and useful: Linux, more than one CPU,
    and no other thread (one could hold a lock the copy would wait on forever)."""
    return (
        sys.platform == "linux"
        and (os.cpu_count() or 1) > 1
        and threading.active_count() == 1
        and "fork" in multiprocessing.get_all_start_methods()
    )


def split_in_fork(work: Callable[[Any], T], first: Any, second: Any) -> tuple[T, T]:
    """``(work(first), work(second))``, the second computed by a forked copy of this
    process at the same time (its result comes back pickled). If the copy fails,
    the second is computed here; an interrupt stops the copy."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_in_child, args=(sender, work, second))
    child.start()
    sender.close()
    try:
        mine = work(first)
        try:
            status, theirs = pickle.loads(receiver.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError):
            status, theirs = "lost", None
    except BaseException:  # interrupted: the copy's answer is not wanted
        child.terminate()
        raise
    finally:
        receiver.close()
        child.join()
    if status != "ok":
        theirs = work(second)
    return mine, theirs


def _in_child(sender: Any, work: Callable[[Any], Any], part: Any) -> None:
    try:
        payload = pickle.dumps(("ok", work(part)), pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # the parent does this part itself
        payload = pickle.dumps(("error", repr(exc)))
    sender.send_bytes(payload)
    sender.close()
