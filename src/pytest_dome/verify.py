"""Run the deterministic verify commands: argv lists, no shell, from the rootdir, with a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .models import VerifyCommandResult, VerifyStatus
from .redact import Redactor, tail

OUTPUT_TAIL_CHARS = 2000


def run_command(
    argv: Sequence[str],
    cwd: Path,
    timeout: float,
    redactor: Redactor,
    env: Mapping[str, str] | None = None,
) -> VerifyCommandResult:
    """Run one command (never through a shell) and record its status, exit code and a
    redacted output tail. ``env`` None inherits dome's environment."""
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
            argv=tuple(redactor.redact(a) for a in argv),
            status="error",
            exit_code=None,
            duration_s=round(time.monotonic() - start, 6),
            output_tail=redactor.redact(f"cannot start {argv[0]!r}: {exc.strerror or exc}"),
        )
    status: VerifyStatus
    try:
        output, _ = proc.communicate(timeout=timeout)
        status = "passed" if proc.returncode == 0 else "failed"
        exit_code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        output, _ = proc.communicate()
        status, exit_code = "timeout", None
        output += f"\n[dome: killed after {timeout:g} s timeout]".encode()
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    text = output.decode("utf-8", errors="replace")
    return VerifyCommandResult(
        argv=tuple(redactor.redact(a) for a in argv),
        status=status,
        exit_code=exit_code,
        duration_s=round(time.monotonic() - start, 6),
        output_tail=tail(redactor.redact(text), OUTPUT_TAIL_CHARS),
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
