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


def test_a_bad_option_fails_the_job_with_no_decision(tmp_path: Path, store: Path) -> None:
    job = gate(machine(tmp_path, "job"), store, threshold="150")
    assert job.failed_step == "Fail the job on REJECT"
    assert (job.outputs["exit-code"], job.outputs["gate-status"], job.outputs["promotion"]) == ("4", "", "")
    assert "no decision was written (exit status 4)" in job.summary
    assert not (store / "dome-run").exists()  # nothing to keep


@pytest.mark.parametrize("action", ["gate", "merge"])
def test_a_bad_run_id_is_refused_before_any_path_is_built(tmp_path: Path, store: Path, action: str) -> None:
    """run-dir would be built from the id: '../keys' names a folder beside the runtime
    folder, which the upload step would then take."""
    workspace = machine(tmp_path, "job")
    (workspace / "ops/runtime/keys").mkdir(parents=True)
    (workspace / "ops/runtime/keys/deploy.key").write_text("secret\n")
    inputs = {"python": sys.executable, "pytest-dome-version": "none", "run-id": "../keys"}
    if action == "gate":
        job = gate(workspace, store, **{"run-id": "../keys"})
    else:
        job = run_action(ROOT / "actions/merge", inputs, workspace, store)
    expected = "2" if action == "merge" else "4"  # dome merge's and pytest's status for bad input
    assert (job.outputs["run-id"], job.outputs["run-dir"], job.outputs["exit-code"]) == ("", "", expected)
    assert job.failed_step == "Fail the job on REJECT" and not list(store.iterdir()), job.log
    assert "::error title=pytest-dome::run-id: invalid run id '../keys': use 1 to 128 characters" in job.log
    assert "--dome-run-id=" not in job.log and "+ dome merge" not in job.log  # nothing ran
    assert f"::error title=pytest-dome::exit status {expected}" in job.log


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
    drawn = []
    for k in config["dome-shard"]["parallel"]["matrix"][0]["DOME_SHARD"]:
        code, log = run_gitlab_job(config, "dome-shard", workspace, {**ci, "DOME_SHARD": k})
        assert code == 0, log  # a shard passes or fails on its own tests; one with none passes too
        run = load_run(workspace / f"ops/runtime/runs/gl-501-shard-{k}")
        drawn.append(len(run.tasks))
    assert sorted(drawn) == [0, 1, 2]  # one shard drew no test: the case pytest's own 5 would be
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


def test_gitlab_pytest_args_are_split_like_a_shell_without_one(tmp_path: Path) -> None:
    """Quotes group words and a `*` stays a `*`: the job's shell neither splits nor
    expands DOME_PYTEST_ARGS (unquoted, `"junit *.xml"` became two words and a glob)."""
    config = yaml.safe_load((ROOT / "examples/ci/gitlab/pytest-dome.gitlab-ci.yml").read_text())
    workspace = machine(tmp_path, "project")
    (workspace / "other.xml").write_text("")  # what `*.xml` would expand to
    args = 'test_app.py -p no:cacheprovider --dome-max-workers=0 --junitxml="junit *.xml" $(touch pwned)'
    variables = {"CI_PIPELINE_ID": "502", "DOME_SHARD": "1", "DOME_PYTEST_ARGS": args}
    code, log = run_gitlab_job(config, "dome-shard", workspace, variables)
    assert code == 4 and "file or directory not found: $(touch" in log, log  # a word, never run
    assert not (workspace / "pwned").exists()
    variables.update(CI_PIPELINE_ID="503", DOME_PYTEST_ARGS=args.removesuffix(" $(touch pwned)"))
    code, log = run_gitlab_job(config, "dome-shard", workspace, variables)
    assert code == 0, log
    assert (workspace / "junit *.xml").is_file() and (workspace / "other.xml").read_text() == ""
