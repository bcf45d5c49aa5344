"""A throwaway PostgreSQL cluster on a Unix socket: for the run history's tests
(tests/history_db.py), the benchmark and ``.ci/run``.

    python3 scripts/pg_cluster.py start     # prints the URL, then the cluster's folder
    python3 scripts/pg_cluster.py stop DIR

The cluster lives in a new temporary folder (initdb, trust authentication, no TCP:
``listen_addresses=''``, the socket in the same folder). Run as root (as CI does),
the server runs as the ``postgres`` user, who owns the folder: PostgreSQL refuses
to run as root. Debian's server binaries are found in /usr/lib/postgresql/*/bin.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PORT = 5432
"""The socket's number (its file is .s.PGSQL.PORT in the cluster's own folder)."""


class ClusterError(RuntimeError):
    """No cluster could be started: the one line says why."""


def bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise ClusterError("no initdb: install the PostgreSQL server (apt-get install postgresql)")
    return Path(candidates[-1]).parent


@dataclass(frozen=True)
class Cluster:
    folder: Path
    bindir: Path
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.folder}&port={PORT}"

    def stop(self) -> None:
        _run(
            [self.bindir / "pg_ctl", "-D", self.folder / "data", "-m", "immediate", "stop"], self.user, False
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def _run(argv: list[object], user: str | None, check: bool = True) -> None:
    done = subprocess.run([str(a) for a in argv], user=user, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise ClusterError(f"{Path(str(argv[0])).name}: {tail[0]}")


def start(fast: bool = True) -> Cluster:
    """Start a cluster (``fast``: no fsync, for tests) and return it."""
    bins = bindir()
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="dome-pg-"))
    try:
        if user is not None:
            shutil.chown(folder, user)
        cluster = Cluster(folder, bins, user)
        _run(
            [
                bins / "initdb",
                "-D",
                folder / "data",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            user,
        )
        options = f"-k {folder} -p {PORT} -c listen_addresses=''" + (" -c fsync=off" if fast else "")
        _run(
            [bins / "pg_ctl", "-D", folder / "data", "-o", options, "-l", folder / "log", "-w", "start"], user
        )
    except (ClusterError, OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ClusterError(str(exc)) from None
    return cluster


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        cluster = start(fast="--durable" not in argv)
        print(cluster.url)
        print(cluster.folder)
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        user = "postgres" if os.geteuid() == 0 else None
        Cluster(Path(argv[1]), bindir(), user).stop()
        return 0
    print("usage: pg_cluster.py start [--durable] | stop DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except ClusterError as exc:
        print(f"pg_cluster: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
