"""The oldest versions pyproject.toml promises, in their own virtual environment
(ops/runtime/oldest-venv, made afresh each time): Python 3.10 with every dependency at
its floor (pytest 8.3, pluggy 1.5, ...; the extras' own tools at their newest).

1. The base install alone (``pip install .``, no extras): a gated run is approved and
   verifies, and ``dome attest --key`` says in one line to install the attest extra.
2. Then ``-e .[dev]``: ``just smoke`` and the whole test suite (the executed manual
   and the fault tests included), two workers, with the arguments given.

Run with ``just oldest``. Python 3.10 is found under ``pyenv root`` (versions/3.10.*),
then as ``python3.10`` on PATH, or given in DOME_OLDEST_PYTHON; without one this fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "ops/runtime/oldest-venv"
OLDEST = (3, 10)
DEV_NEEDS_NEWER = {"tomli": "hatchling, of the dev extra, needs tomli 1.2.2"}
"""Floors the dev extra's own tools raise; the base install's check reads a pyproject.toml
with the floor itself."""
EXTRA_LINE = (
    "dome attest: --key needs the signing libraries (cryptography is not installed): "
    "pip install 'pytest-dome[attest]'"
)


def fail(message: str) -> None:
    print(f"oldest: {message}", file=sys.stderr)
    raise SystemExit(1)


def _version(python: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    except OSError:
        return None
    return tuple(int(part) for part in out.split()) or None


def find_python() -> str:
    """The newest Python 3.10 of this machine."""
    given = os.environ.get("DOME_OLDEST_PYTHON")
    if given:
        if (_version(given) or ())[:2] != OLDEST:
            fail(f"DOME_OLDEST_PYTHON={given} is not a Python 3.10")
        return given
    candidates: list[str] = []
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
        candidates += [str(p) for p in Path(root).glob("versions/3.10.*/bin/python3.10")]
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates.append("python3.10")  # a pyenv shim answers only when 3.10 is selected
    found = [(v, c) for c in candidates if (v := _version(c)) and v[:2] == OLDEST]
    if not found:
        fail(
            "no Python 3.10 here (looked in `pyenv root`/versions/3.10.* and for python3.10 on PATH); "
            "install one (pyenv install 3.10) or name it in DOME_OLDEST_PYTHON"
        )
    return max(found)[1]


def floors() -> list[str]:
    """``name==floor`` for every dependency of the base install and the attest extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = []
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["attest"]]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?>=([0-9][0-9.]*)(\s*;.*)?", requirement)
        if m is None:
            fail(f"pyproject.toml: {requirement!r} has no '>=' floor to test")
        pins.append(f"{m[1]}=={m[2]}")
    return pins


def run(*argv: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """A command in the virtual environment (its bin first on PATH, no PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PATH=f"{VENV / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(VENV), PYTHON=str(python()))
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)


def python() -> Path:
    return VENV / "bin/python"


def check(done: subprocess.CompletedProcess[str], what: str) -> str:
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        fail(f"{what}: exit {done.returncode}")
    return done.stdout


def pip_install(constraints: Path, *what: str) -> None:
    check(run(python(), "-m", "pip", "install", "-q", "-c", constraints, *what), f"pip install {what}")


def base_install_gates() -> None:
    """A base install (no extras) approves a passing run, and --key names the extra."""
    for library in ("cryptography", "securesystemslib"):
        if run(python(), "-c", f"import {library}").returncode == 0:
            fail(f"the base install brought {library}, which only the attest extra should")
    with tempfile.TemporaryDirectory(prefix="dome-base-") as folder:
        project = Path(folder)
        (project / "test_app.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
        verify = '[["python", "-c", "print(1)"]]'  # [tool.dome] read with tomli at its floor
        (project / "pyproject.toml").write_text(f"[tool.dome]\nverify = {verify}\nrisk_threshold = 9\n")
        check(run(python(), "-m", "pytest", "-q", "--dome-run-id=base-1", cwd=project), "a gated run")
        run_dir = project / "ops/runtime/runs/base-1"
        status = json.loads((run_dir / "gate/gate.decision.json").read_text())["status"]
        commands = json.loads((run_dir / "checks/verify.results.json").read_text())["commands"]
        if (status, [c["argv"] for c in commands]) != ("APPROVE", [["python", "-c", "print(1)"]]):
            fail(f"the base install's gated run: {status}, verify commands {commands}")
        check(run(VENV / "bin/dome", "verify", "base-1", cwd=project), "dome verify")
        signed = run(VENV / "bin/dome", "attest", "base-1", "--key", "release.key", cwd=project)
        if (signed.returncode, signed.stdout, signed.stderr) != (2, "", EXTRA_LINE + "\n"):
            fail(f"dome attest --key without the extra: exit {signed.returncode}, {signed.stderr!r}")
    print("oldest: the base install (no extras) gates a run; dome attest --key names the attest extra")


def main(argv: list[str]) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # before pytest's own output
    start = time.monotonic()
    interpreter = find_python()
    check(run(interpreter, "-m", "venv", "--clear", VENV), "python3.10 -m venv")
    constraints, dev_constraints = VENV / "floors.txt", VENV / "floors-dev.txt"
    constraints.write_text("\n".join(floors()) + "\n")
    dev_constraints.write_text("".join(f"{p}\n" for p in floors() if p.split("==")[0] not in DEV_NEEDS_NEWER))
    check(run(python(), "-m", "pip", "install", "-q", "--upgrade", "pip"), "pip install --upgrade pip")
    pip_install(constraints, ".")
    base_install_gates()
    pip_install(dev_constraints, "-e", ".[dev]")
    check(run(python(), "-m", "pip", "check"), "pip check")
    versions = check(
        run(
            python(),
            "-c",
            "import sys, pytest, pluggy, xdist, pydantic; "
            "print('Python', sys.version.split()[0], 'pytest', pytest.__version__, 'pluggy', "
            "pluggy.__version__, 'pytest-xdist', xdist.__version__, 'pydantic', pydantic.VERSION)",
        ),
        "versions",
    )
    print(f"oldest: {versions.strip()} (floors: {', '.join(floors())})")
    check(run(VENV / "bin/just", "smoke"), "just smoke")
    print(f"oldest: venv, base install check and smoke in {time.monotonic() - start:.0f}s; now the suite")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [str(python()), "-m", "pytest", "-q", "-n", "2", *argv], cwd=ROOT, env=env
    ).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
