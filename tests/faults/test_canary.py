"""Secret canaries: planted everywhere a secret could leak (the evidence, JUnit XML, the
terminal, the in-toto attestations), found nowhere afterwards."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pytest_dome.cli.main import main

if TYPE_CHECKING:
    from conftest import Mode

ENV_CANARY = "dome-canary-env-5f1e9a7c"
GITHUB_CANARY = "ghp_" + "C4nary" * 6
AWS_CANARY = "AKIA" + "CANARY7QX2LM4NPZ"
CANARIES = (ENV_CANARY, GITHUB_CANARY, AWS_CANARY)


def attest(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> dict[object, str]:
    """`dome attest` of run r1, unsigned and signed: the files, the signed payloads
    decoded (base64 would hide a secret from the search) and what it printed."""
    (pytester.path / "dist").mkdir()
    (pytester.path / "dist/app-1.0.whl").write_bytes(b"wheel")
    key = pytester.path / "signing.pem"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    capsys.readouterr()
    assert main(["attest", "r1", "--subject", "dist/*.whl", "--out", "unsigned"]) == 0
    assert main(["attest", "r1", "--subject", "dist/*.whl", "--out", "signed", "--key", str(key)]) == 0
    found: dict[object, str] = {p: p.read_text() for p in pytester.path.glob("*signed/*.json")}
    for path in pytester.path.glob("signed/*.json"):
        found[f"payload of {path.name}"] = base64.b64decode(json.loads(found[path])["payload"]).decode()
    found["dome attest output"] = "".join(capsys.readouterr())
    return found


def test_no_canary_reaches_evidence_junit_or_terminal(
    pytester: pytest.Pytester, monkeypatch, capsys, mode: Mode
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", ENV_CANARY)
    pytester.makepyfile(
        f"""
        import os, pytest
        def test_assertion():
            token = os.environ["DEPLOY_TOKEN"]
            assert token == "{GITHUB_CANARY}"
        def test_printed_output():
            print("using", os.environ["DEPLOY_TOKEN"], "{AWS_CANARY}")
            assert False, "see captured output"
        @pytest.mark.parametrize("key", ["{GITHUB_CANARY}"])
        def test_secret_in_test_id(key):
            pass
        """
    )
    printer = f"import os; print(os.environ['DEPLOY_TOKEN'], '{GITHUB_CANARY}', '{AWS_CANARY}')"
    packet = {
        "schema_version": "1.0.0",
        "kind": "packet",
        "packet_id": "canary",
        "tasks": [
            {"kind": "tests", "id": "suite"},
            {
                "kind": "command",
                "id": "leaky",
                "argv": ["python", "-c", printer + "; raise SystemExit(1)"],
                "env": ["DEPLOY_TOKEN"],
            },
        ],
    }
    (pytester.path / "packet.json").write_text(json.dumps(packet))
    result = pytester.runpytest_subprocess(
        "--dome-run-id=r1",
        "--dome-packet=packet.json",
        *mode.args,
        "-rA",
        "--junitxml=junit.xml",
        f'--dome-verify=python -c "{printer}"',
    )
    assert result.ret == 1
    run_dir = pytester.path / "ops/runtime/runs/r1"
    searched = {p: p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()}
    searched[pytester.path / "junit.xml"] = (pytester.path / "junit.xml").read_text()
    searched["stdout"] = result.stdout.str()
    searched["stderr"] = result.stderr.str()
    assert len(searched) > 15
    attestations = attest(pytester, capsys)
    assert len(attestations) == 7  # 4 files, 2 payloads, the output
    searched.update(attestations)
    for where, text in searched.items():
        for canary in CANARIES:
            assert canary not in text, (canary, where)
    # ... and no attestation holds a path of this machine.
    machine = {str(pytester.path), str(pytester.path.resolve()), str(Path.home()), sys.prefix}
    for where, text in attestations.items():
        for path in machine:
            assert path not in text, (path, where)
    # ... and the evidence says what was removed, by kind, never the values.
    redactions = json.loads((run_dir / "run.manifest.json").read_text())["redactions"]
    assert {"env_secret", "github_token", "aws_access_key_id"} <= set(redactions)
    assert "[REDACTED:github_token]" in searched["stdout"]
