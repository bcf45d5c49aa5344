"""Extension hooks, and the change set against a base ref."""

from __future__ import annotations

import subprocess

import pytest

HOOKS = """
import json, pathlib

def pytest_dome_risk_factors(config, results):
    return [{"name": "open_incidents", "weight": 30, "value": 0.5}]

def pytest_dome_gate_decided(config, gate, promotion):
    seen = [gate.status, promotion.action, gate.decision_digest]
    pathlib.Path("decided.json").write_text(json.dumps(seen))
"""


def test_plugin_hooks_add_a_factor_and_hear_the_decision(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makeconftest(HOOKS)
    pytester.makepyfile("def test_ok(): pass")
    pytester.runpytest("--dome-run-id=r1", "--dome-risk-threshold=20")
    run = dome_run()
    factors = {f["name"]: f["contribution"] for f in run.gate["risk"]["factors"]}
    assert factors["plugin.open_incidents"] == 15
    assert run.session["plugin_factors"] == [{"name": "open_incidents", "weight": 30.0, "value": 0.5}]
    assert run.gate["status"] == "NEEDS_HUMAN"  # 15 + 10 (no verify) >= 20
    assert (pytester.path / "decided.json").read_text() == (
        f'["NEEDS_HUMAN", "hold", "{run.gate["decision_digest"]}"]'
    )


def git(path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=path,
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@e",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@e",
            "PATH": "/usr/bin:/bin",
        },
    )


def test_change_set_against_base_ref(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    git(pytester.path, "init", "-q", "-b", "main")
    git(pytester.path, "add", "-A")
    git(pytester.path, "commit", "-qm", "base")
    (pytester.path / "auth").mkdir()
    (pytester.path / "auth/login.py").write_text("x = 1\n")
    (pytester.path / "notes.txt").write_text("n\n")
    git(pytester.path, "add", "-A")
    git(pytester.path, "commit", "-qm", "change")
    pytester.runpytest("--dome-run-id=r1", "--dome-base-ref=HEAD~1")
    run = dome_run()
    change = json_file(run.path / "inputs/change_set.json")
    assert change["status"] == "resolved" and change["files"] == ["auth/login.py", "notes.txt"]
    assert change["sensitive_files"] == ["auth/login.py"]
    assert run.gate["checks"]["change_set"] == {
        "status": "resolved",
        "changed_files": 2,
        "sensitive_files": 1,
    }
    assert "CHANGESET_SENSITIVE_PATHS" in run.gate["reason_codes"]


def test_unresolved_base_ref_is_recorded_and_scored(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    pytester.runpytest("--dome-run-id=r1", "--dome-base-ref=origin/nowhere")
    run = dome_run()
    assert run.gate["checks"]["change_set"]["status"] in ("no_git", "unresolved")
    assert "BASE_REF_UNRESOLVED" in run.gate["reason_codes"]
    factors = {f["name"]: f["contribution"] for f in run.gate["risk"]["factors"]}
    assert factors["base_ref_unresolved"] == 25


def json_file(path):
    import json

    return json.loads(path.read_text())
