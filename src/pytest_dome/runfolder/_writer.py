"""The task-result writer process: ``python -I -S _writer.py FOLDER``.

Started by a gated run (``speedups.ResultWriterProcess``) so that creating one file per
task, most of the cost of a large run's evidence, happens in another process,
on another core, while the tests go on: no share of the session's GIL, no
imports but the standard library's core.

Reads frames from stdin until end of file: a 6-byte header (``!HI``: name
length, data length), the file name (UTF-8, one safe path component) and the
bytes to write. Creates each file in FOLDER. At end of file prints one line,
``ok N`` or ``error WHAT``, and exits 0. After an error it reads on (so the
session never blocks on a full pipe) but writes nothing more: the session
writes every result itself instead. Ignores SIGINT: Ctrl-C is for the session,
which closes the pipe.
"""

import os
import signal
import struct
import sys

HEADER = struct.Struct("!HI")
FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _safe(name: str) -> bool:
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    folder = sys.argv[1]
    source = sys.stdin.buffer
    error = None
    count = 0
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        error = f"{folder}: {exc.strerror or exc}"
        dir_fd = -1
    while True:
        head = source.read(HEADER.size)
        if len(head) < HEADER.size:
            if head:
                error = error or "truncated frame"
            break
        name_len, data_len = HEADER.unpack(head)
        raw_name = source.read(name_len)
        data = source.read(data_len)
        if error is not None:
            continue
        if len(raw_name) < name_len or len(data) < data_len:
            error = "truncated frame"
            break
        name = raw_name.decode("utf-8", "replace")
        if not _safe(name):
            error = f"refused file name {name!r}"
            continue
        try:
            fd = os.open(name, FLAGS, 0o644, dir_fd=dir_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except OSError as exc:
            error = f"{name}: {exc.strerror or exc}"
            continue
        count += 1
    sys.stdout.write(f"error {error}\n" if error is not None else f"ok {count}\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
