"""Real run folders for the reader tests: made once per session by gated pytest runs,
and the `dome` command run in-process on them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_dome.cli.main import main
from pytest_dome.runfolder.reader import manifest_digest

HANG_S = 60

TESTS = {
    "test_a.py": "import pytest\n\ndef test_ok(): pass\n\n"
    "@pytest.mark.parametrize('x', [1, 2])\ndef test_p(x): assert x\n",
    "test_b.py": "def test_fail(): assert 0, 'boom'\n",
}
RUNS: dict[str, tuple[str, ...]] = {  # run id -> pytest arguments
    "approve": ("test_a.py",),
    "reject": ("--dome-baseline=approve",),
    "hold": ("test_a.py", "--dome-risk-threshold=0"),
    "overridden": ("test_a.py", "--dome-risk-threshold=0"),
    "s1": ("--dome-shard=1/2",),
    "s2": ("--dome-shard=2/2",),
}
REASON = "risk accepted: tracked in REL-1"
PYTEST = (
    sys.executable,
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:randomly",
    "--dome-max-workers=0",
)


class Runs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.runtime = root / "ops/runtime/runs"
        self.att = root / "att"
        self.month = ""

    def files(self, name: str) -> list[str]:
        base = self.att if name == "att" else self.runtime / name
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())

    def path(self, name: str) -> Path:
        return self.att if name == "att" else self.runtime / name

    def kind(self, name: str, rel: str) -> str:
        """The artifact kind of a file (its manifest entry's), for its size limit."""
        if name == "att":
            return "attestation"
        manifest = json.loads((self.runtime / name / "run.manifest.json").read_text())
        return next((e["kind"] for e in manifest["artifacts"] if e["path"] == rel), "run.manifest")


def make_runs(root: Path) -> Runs:
    """The runs of :data:`RUNS` and an attestation of "approve", under ``root``."""
    for name, text in TESTS.items():
        (root / name).write_text(text)
    (root / "dist").mkdir()
    (root / "dist/app.whl").write_bytes(b"wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DOME_"))}
    for run_id, args in RUNS.items():
        subprocess.run(
            [*PYTEST, f"--dome-run-id={run_id}", *args],
            cwd=root,
            env=env,
            capture_output=True,
            check=False,
        )
    runs = Runs(root)
    assert cli(["override", str(runs.runtime / "overridden"), "--actor", "rm", "--reason", REASON])[0] == 0
    with chdir(root):
        made = cli(
            ["attest", str(runs.runtime / "approve"), "--subject", "dist/*.whl", "--out", str(runs.att)]
        )
    assert made[0] == 0, made
    for run_id in RUNS:
        assert cli(["verify", str(runs.runtime / run_id)])[0] == 0, run_id
    runs.month = json.loads((runs.runtime / "approve/run.manifest.json").read_text())["started_at"][:7]
    return runs


@contextlib.contextmanager
def chdir(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


class Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang(f"no answer in {HANG_S} s")


@contextlib.contextmanager
def deadline(seconds: int = HANG_S) -> Iterator[None]:
    """Fail with :class:`Hang` instead of hanging (SIGALRM interrupts a blocked open)."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cli(argv: list[str]) -> tuple[int, str, str]:
    """``dome ARGV`` in this process: exit status, stdout, stderr. An exception that
    escapes is a traceback for the user: it fails the case."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def rehash(run: Path) -> None:
    """What an attacker does after changing files: recompute the manifest's hashes."""
    path = run / "run.manifest.json"
    if not path.is_file() or path.is_symlink() or path.stat().st_size > 1 << 20:
        return  # a FIFO would block this reader: not dome's
    try:
        manifest = json.loads(path.read_text())
        for entry in manifest["artifacts"]:
            path = run / entry["path"]
            if path.is_file() and path.stat().st_size < 1 << 20:
                data = path.read_bytes()
                entry["sha256"], entry["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
        manifest["manifest_digest"] = manifest_digest(manifest)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return
    (run / "run.manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
