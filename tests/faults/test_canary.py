"""Secret canaries: planted everywhere a secret could leak, found nowhere afterwards."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Mode

ENV_CANARY = "dome-canary-env-5f1e9a7c"
GITHUB_CANARY = "ghp_" + "C4nary" * 6
AWS_CANARY = "AKIA" + "CANARY7QX2LM4NPZ"
CANARIES = (ENV_CANARY, GITHUB_CANARY, AWS_CANARY)


def test_no_canary_reaches_evidence_junit_or_terminal(
    pytester: pytest.Pytester, monkeypatch, mode: Mode
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
    for where, text in searched.items():
        for canary in CANARIES:
            assert canary not in text, (canary, where)
    # ... and the evidence says what was removed, by kind, never the values.
    redactions = json.loads((run_dir / "run.manifest.json").read_text())["redactions"]
    assert {"env_secret", "github_token", "aws_access_key_id"} <= set(redactions)
    assert "[REDACTED:github_token]" in searched["stdout"]
