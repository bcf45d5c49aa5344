"""Run commands for dome (verify commands, command tasks): argv lists, no shell, from a
folder, with a timeout, keeping only a bounded, redacted tail of their output."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..contracts.models import VerifyCommandResult, VerifyStatus
from ..core.redact import Redactor, tail

OUTPUT_TAIL_CHARS = 2000
KEEP_BYTES = 64 * 1024
"""Output kept while a command runs: the last 64 KiB, however much it prints."""


class _TailReader(threading.Thread):
    """Drains a pipe, keeping only its last ``KEEP_BYTES`` bytes, and closes it at its
    end. It owns the pipe: closing it from another thread would wait for the end of
    a read, that is for every process holding the pipe's other end (a child the
    command left running) to exit."""

    def __init__(self, pipe: object) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.data = bytearray()
        self.total = 0
        self._lock = threading.Lock()

    def run(self) -> None:
        read = self.pipe.read1  # type: ignore[attr-defined]  # what is there, not a full 64 KiB
        while chunk := read(65536):
            with self._lock:
                self.total += len(chunk)
                self.data += chunk
                if len(self.data) > 2 * KEEP_BYTES:
                    del self.data[:-KEEP_BYTES]
        self.pipe.close()  # type: ignore[attr-defined]

    def tail(self) -> tuple[bytes, int]:
        """The last ``KEEP_BYTES`` bytes read so far and how many were read in all, as
        one consistent pair (a child the command left running may still be writing)."""
        with self._lock:
            return bytes(self.data[-KEEP_BYTES:]), self.total


def run_command(
    argv: Sequence[str],
    cwd: Path,
    timeout: float,
    redactor: Redactor,
    env: Mapping[str, str] | None = None,
) -> VerifyCommandResult:
    """Run one command (never through a shell) and record its status, exit code and a
    redacted output tail. ``env`` None inherits dome's environment."""
    shown = tuple(redactor.redact(a) for a in argv)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=None if env is None else dict(env),
        )
    except OSError as exc:
        return VerifyCommandResult(
            argv=shown,
            status="error",
            exit_code=None,
            duration_s=round(time.monotonic() - start, 6),
            output_tail=redactor.redact(f"cannot start {argv[0]!r}: {exc.strerror or exc}"),
        )
    reader = _TailReader(proc.stdout)
    reader.start()
    status: VerifyStatus
    exit_code: int | None
    note = ""
    try:
        exit_code = proc.wait(timeout=timeout)
        status = "passed" if exit_code == 0 else "failed"
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()
        status, exit_code = "timeout", None
        note = f"\n[dome: killed after {timeout:g} s timeout]"
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    reader.join(timeout=5)  # then what it has read so far: a child may hold the pipe open
    data, total = reader.tail()
    text = data.decode("utf-8", errors="replace")
    if total > len(data):
        text = f"[dome: {total - len(data)} earlier bytes not kept]\n" + text
    return VerifyCommandResult(
        argv=shown,
        status=status,
        exit_code=exit_code,
        duration_s=round(time.monotonic() - start, 6),
        output_tail=tail(redactor.redact(text + note), OUTPUT_TAIL_CHARS),
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and everything it started (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def not_run(argv: Sequence[str], redactor: Redactor) -> VerifyCommandResult:
    return VerifyCommandResult(
        argv=tuple(redactor.redact(a) for a in argv),
        status="not_run",
        exit_code=None,
        duration_s=0.0,
        output_tail="[dome: not run: the session was interrupted]",
    )
