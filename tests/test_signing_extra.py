"""Without the ``attest`` extra (securesystemslib, cryptography): a gated run, an
unsigned ``dome attest`` and ``verify-attestation --unsigned`` work; ``--key`` says in
one line what to install. Each command runs in a fresh interpreter whose imports of
the two libraries fail, as on a base ``pip install pytest-dome``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import load_run

BLOCK = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("cryptography", "securesystemslib"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
"""
"""An import finder that makes the signing libraries missing."""

PYTEST = BLOCK + "import pytest\nsys.exit(pytest.main(sys.argv[1:]))\n"
DOME = BLOCK + "from pytest_dome.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
EXTRA = "pip install 'pytest-dome[attest]'"


def without_signing(program: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_blocker_makes_the_libraries_missing(tmp_path: Path) -> None:
    done = without_signing(BLOCK + "import cryptography\n", cwd=tmp_path)
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'cryptography'" in done.stderr


def test_a_run_gates_and_attests_unsigned_without_the_extra(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    (pytester.path / "app.whl").write_bytes(b"release")
    gated = without_signing(PYTEST, "-p", "no:randomly", "--dome-run-id=r1", cwd=pytester.path)
    assert gated.returncode == 0, gated.stdout + gated.stderr
    assert load_run(pytester.path / "ops/runtime/runs/r1").gate["status"] == "APPROVE"

    attested = without_signing(DOME, "attest", "r1", "--subject", "app.whl", cwd=pytester.path)
    assert (attested.returncode, attested.stderr) == (0, ""), attested.stderr
    assert "(unsigned)" in attested.stdout
    statement = pytester.path / "ops/runtime/attestations/r1/vsa.statement.json"
    checked = without_signing(DOME, "verify-attestation", str(statement), "--unsigned", cwd=pytester.path)
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr
    assert "verified: unsigned" in checked.stdout

    key = pytester.path / "release.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n")
    for command in (["attest", "r1"], ["verify-attestation", str(statement)]):
        command += ["--key", str(key)]
        refused = without_signing(DOME, *command, cwd=pytester.path)
        assert (refused.returncode, refused.stdout) == (2, "")
        assert refused.stderr == (
            f"dome {command[0]}: --key needs the signing libraries (cryptography is not installed): {EXTRA}\n"
        )
