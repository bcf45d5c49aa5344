"""The GitHub Actions and the GitLab template run here, offline, on a tiny
project: their real scripts and the real `dome` commands (see emulate.py
for what stands in for the hosted services)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import load_run

from .emulate import ROOT, Job, run_action, run_gitlab_job

PASSING = "def test_a():\n    pass\n\ndef test_b():\n    pass\n\ndef test_c():\n    pass\n"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The workflow run's artifacts."""
    (tmp_path / "store").mkdir()
    return tmp_path / "store"


def machine(tmp_path: Path, name: str, tests: str = PASSING) -> Path:
    """A job's fresh checkout of a project with one test module."""
    workspace = tmp_path / name
    workspace.mkdir()
    (workspace / "test_app.py").write_text(tests)
    return workspace


def gate(workspace: Path, store: Path, **inputs: str) -> Job:
    defaults = {"python": sys.executable, "pytest-dome-version": "none", "workers": "0"}
    defaults["pytest-args"] = "test_app.py -p no:cacheprovider"
    return run_action(ROOT, {**defaults, **inputs}, workspace, store)


def decision(job: Job) -> tuple[str, str, str]:
    return job.outputs["gate-status"], job.outputs["promotion"], job.outputs["verified"]


def test_action_approves_keeps_the_evidence_and_summarises(tmp_path: Path, store: Path) -> None:
    workspace = machine(tmp_path, "job")
    job = gate(workspace, store, verify=f'{sys.executable} -c "print(1)"\n\n{sys.executable} -c pass')
    assert job.failed_step is None, job.log
    run_dir = workspace / "ops/runtime/runs/gh-77-2"  # the workflow run and its attempt
    assert job.outputs == {
        "run-id": "gh-77-2",
        "run-dir": str(run_dir),
        "gate-status": "APPROVE",
        "promotion": "promote",
        "verified": "true",
        "exit-code": "0",
        "artifact-name": "dome-run",
    }
    assert load_run(store / "dome-run").gate["status"] == "APPROVE"  # the uploaded folder verifies
    argvs = [c["argv"] for c in load_run(run_dir).verify["commands"]]
    assert argvs == [[sys.executable, "-c", "print(1)"], [sys.executable, "-c", "pass"]]
    assert "## ✅ dome release gate: APPROVE (promotion: promote)" in job.summary


def test_action_fails_the_job_on_reject_after_keeping_the_evidence(tmp_path: Path, store: Path) -> None:
    workspace = machine(tmp_path, "job", PASSING + "\ndef test_bad():\n    assert False\n")
    job = gate(workspace, store)
    assert job.failed_step == "Fail the job on REJECT", job.log
    assert decision(job) == ("REJECT", "stop", "true") and job.outputs["exit-code"] == "1"
    assert load_run(store / "dome-run").gate["status"] == "REJECT"
    assert "::error title=pytest-dome::run gh-77-2: REJECT" in job.log
    assert "⛔ dome release gate: REJECT" in job.summary


@pytest.mark.parametrize(("fail_on", "failed"), [("", None), ("NEEDS_HUMAN", "Fail the job on REJECT")])
def test_needs_human_holds_and_fails_the_job_only_with_fail_on(
    tmp_path: Path, store: Path, fail_on: str, failed: str | None
) -> None:
    job = gate(machine(tmp_path, "job"), store, threshold="0", **{"fail-on": fail_on})
    assert job.failed_step == failed, job.log
    assert decision(job) == ("NEEDS_HUMAN", "hold", "true")


def test_inputs_are_never_run_by_a_shell(tmp_path: Path, store: Path) -> None:
    workspace = machine(tmp_path, "job")
    job = gate(
        workspace,
        store,
        verify="echo $(touch pwned1) `touch pwned2`",
        **{"pytest-args": 'test_app.py -p no:cacheprovider --junitxml="$(touch pwned3).xml"'},
    )
    assert job.outputs["gate-status"] == "APPROVE", job.log
    assert not list(workspace.glob("pwned*")) and not list(tmp_path.glob("pwned*"))
    assert (workspace / "$(touch pwned3).xml").is_file()  # the argument, taken literally
    [command] = load_run(workspace / "ops/runtime/runs/gh-77-2").verify["commands"]
    assert command["argv"] == ["echo", "$(touch", "pwned1)", "`touch", "pwned2`"]


def test_a_bad_input_fails_the_job_with_no_decision(tmp_path: Path, store: Path) -> None:
    job = gate(machine(tmp_path, "job"), store, **{"run-id": "../escape"})
    assert job.failed_step == "Fail the job on REJECT"
    assert (job.outputs["exit-code"], job.outputs["gate-status"], job.outputs["promotion"]) == ("4", "", "")
    assert "no decision was written (exit status 4)" in job.summary
    assert not (store / "dome-run").exists()  # nothing to keep


def test_a_version_that_is_not_one_stops_at_the_install(tmp_path: Path, store: Path) -> None:
    workspace = machine(tmp_path, "job")
    job = gate(workspace, store, **{"pytest-dome-version": "0.1; touch pwned"})
    assert job.failed_step == "Install pytest-dome"
    assert "pytest-dome-version must be a version such as 0.1.0, empty or none" in job.log
    assert "Gated pytest session" not in job.log and not list(workspace.glob("pwned*"))


def test_shards_merge_into_one_decision_and_a_missing_shard_rejects(tmp_path: Path, store: Path) -> None:
    for k in (1, 2, 3):  # three machines of one workflow run
        shard = gate(machine(tmp_path, f"shard-{k}"), store, shard=f"{k}/3")
        assert shard.outputs["run-id"] == f"gh-77-2-shard-{k}"
        assert shard.outputs["artifact-name"] == f"dome-shard-{k}"
        assert shard.outputs["gate-status"] == shard.outputs["promotion"] == ""  # a shard does not decide
        assert "no decision of its own" in shard.summary
    merge_action = ROOT / "actions/merge"
    merged = run_action(
        merge_action,
        {"python": sys.executable, "pytest-dome-version": "none"},
        machine(tmp_path, "merge"),
        store,
    )
    assert merged.failed_step is None, merged.log
    assert decision(merged) == ("APPROVE", "promote", "true")
    assert load_run(store / "dome-run").manifest["run_id"] == "gh-77-2"
    assert "## ✅ dome release gate: APPROVE" in merged.summary
    partial = run_action(
        merge_action,
        {
            "python": sys.executable,
            "pytest-dome-version": "none",
            "pattern": "dome-shard-[12]",
            "artifact-name": "dome-partial",
        },
        machine(tmp_path, "merge-partial"),
        store,
    )
    assert partial.failed_step == "Fail the job on REJECT"
    assert partial.outputs["gate-status"] == "REJECT"
    assert "SHARD_MISSING" in load_run(store / "dome-partial").gate["reason_codes"]


def test_gitlab_template_shards_merge_holds_and_a_manual_override_deploys(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "examples/ci/gitlab/pytest-dome.gitlab-ci.yml").read_text())
    workspace = machine(tmp_path, "project")  # one folder: GitLab hands each job the earlier jobs' artifacts
    ci = {"CI_PIPELINE_ID": "501", "DOME_PYTEST_ARGS": "test_app.py -p no:cacheprovider --dome-max-workers=0"}
    ci["DOME_PYTEST_ARGS"] += " --dome-risk-threshold=0"  # NEEDS_HUMAN
    for k in config["dome-shard"]["parallel"]["matrix"][0]["DOME_SHARD"]:
        code, log = run_gitlab_job(config, "dome-shard", workspace, {**ci, "DOME_SHARD": k})
        assert code in (0, 5), log  # 5: a shard that drew no test
        assert (workspace / f"ops/runtime/runs/gl-501-shard-{k}/run.manifest.json").is_file()
    code, log = run_gitlab_job(config, "dome-merge", workspace, ci)
    assert code == 0, log
    assert (
        "run gl-501: NEEDS_HUMAN" in log and "dome release gate: NEEDS_HUMAN" in log
    )  # merge, then the report
    assert (workspace / "dome.env").read_text() == "DOME_GATE_STATUS=NEEDS_HUMAN\nDOME_PROMOTION=hold\n"
    assert (workspace / "dome-report.html").is_file()
    code, log = run_gitlab_job(config, "dome-deploy", workspace, ci)
    assert code == 1 and "hold (run gl-501: NEEDS_HUMAN)" in log and "deploying" not in log
    person = {**ci, "GITLAB_USER_LOGIN": "alice", "DOME_OVERRIDE_REASON": "UI flakiness tracked in REL-7"}
    code, log = run_gitlab_job(config, "dome-override", workspace, person)
    assert code == 0, log
    assert "promote (run gl-501: NEEDS_HUMAN, overridden by alice)" in log and "deploying" in log
    override = json.loads((workspace / "ops/runtime/runs/gl-501/promotion/overrides.jsonl").read_text())
    assert (override["actor"], override["reason"]) == ("alice", "UI flakiness tracked in REL-7")
    assert load_run(workspace / "ops/runtime/runs/gl-501").promotion["action"] == "promote"


def test_status_of_evidence_that_does_not_verify_says_so(tmp_path: Path, store: Path) -> None:
    workspace = machine(tmp_path, "job")
    job = gate(workspace, store, upload="false")
    run_dir = Path(job.outputs["run-dir"])
    (run_dir / "plan.json").write_text("{}\n")  # tampered: the manifest's hash no longer matches
    outputs, summary = tmp_path / "outputs", tmp_path / "summary"
    env = {
        "PATH": "/usr/bin:/bin",
        "DOME_PYTHON": sys.executable,
        "DOME_RUN_DIR": str(run_dir),
        "DOME_EXIT_CODE": "0",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    done = subprocess.run(
        ["bash", str(ROOT / "actions/scripts/status.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert outputs.read_text().splitlines() == ["gate-status=", "promotion=", "verified=false"]
    assert "does not verify" in summary.read_text()
