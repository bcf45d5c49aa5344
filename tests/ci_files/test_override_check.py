"""The override workflows' check of the typed-in run, run here offline: the step of
the example workflow and of the manual's inline copy, with a stand-in for `gh api`
that answers from a table of workflow runs and logs every call."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .emulate import ROOT, substitute

SHA = "a" * 40
OLD_SHA = "b" * 40

GH = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
runs = json.loads(os.environ["FAKE_GH_RUNS"])
run = runs.get(args[1].rsplit("/", 1)[-1])
if args[0] != "api" or run is None:
    sys.exit("gh: Not Found (HTTP 404)")
for field in args[args.index("--jq") + 1].split(","):
    print(run[field.strip().removeprefix(".")])
"""


def _manual_workflow() -> dict[str, Any]:
    text = (ROOT / "docs/ci.md").read_text()
    block = text.split("`.github/workflows/release-override.yml`:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    return yaml.safe_load(block)


WORKFLOWS = {
    "example": (
        yaml.safe_load((ROOT / ".github/workflows/example-release-override.yml").read_text()),
        ".github/workflows/example-gated-deploy.yml",
        ["push", "workflow_dispatch"],
    ),
    "manual": (_manual_workflow(), ".github/workflows/release-gate.yml", ["push"]),
}


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    [job] = workflow["jobs"].values()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def _input_name(workflow: dict[str, Any]) -> str:
    # PyYAML reads the key `on` as True.
    inputs = workflow[True]["workflow_dispatch"]["inputs"]
    [name] = [name for name in inputs if name != "reason"]
    return name


Runs = dict[str, dict[str, str]]


def check(tmp_path: Path, which: str, typed: str, runs: Runs, ref: str = "refs/heads/main") -> tuple:
    """Run the check step with ``typed`` as the input; (exit status, step outputs,
    log, the gh calls made)."""
    workflow = WORKFLOWS[which][0]
    [step] = [s for s in _steps(workflow) if s.get("id") == "gate-run"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(GH.format(python=sys.executable))
    (bin_dir / "gh").chmod(0o755)
    context = {
        "inputs": {_input_name(workflow): typed},
        "github": {"token": "t0ken", "repository": "owner/app", "ref": ref, "sha": SHA},
    }
    env = {k: substitute(v, context) for k, v in step["env"].items()}
    output, log = tmp_path / "output", tmp_path / "gh.log"
    output.write_text("")
    log.write_text("")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            **env,
            "GITHUB_OUTPUT": str(output),
            "FAKE_GH_LOG": str(log),
            "FAKE_GH_RUNS": json.dumps(runs),
        },
        capture_output=True,
        text=True,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return done.returncode, outputs, done.stdout + done.stderr, calls


def _run(path: str, event: str = "push", branch: str = "main", sha: str = SHA) -> dict[str, str]:
    return {"path": path, "event": event, "head_branch": branch, "head_sha": sha}


@pytest.mark.parametrize("which", sorted(WORKFLOWS))
def test_the_held_run_of_the_gate_workflow_on_main_is_accepted(tmp_path: Path, which: str) -> None:
    _, path, events = WORKFLOWS[which]
    for number, event in enumerate(events, start=1):
        code, outputs, log, calls = check(tmp_path, which, f"{number}7", {f"{number}7": _run(path, event)})
        assert (code, outputs) == (0, {"run-id": f"{number}7"}), log
        assert calls[-1][:2] == ["api", f"repos/owner/app/actions/runs/{number}7"]


@pytest.mark.parametrize("which", sorted(WORKFLOWS))
@pytest.mark.parametrize("typed", ["17abc", "17 ", " 17", "0x11", "1e3", "-17", "017", "", "17\n18", "../17"])
def test_a_run_id_that_is_not_a_number_is_refused_before_any_lookup(
    tmp_path: Path, which: str, typed: str
) -> None:
    """download-artifact would read '17abc' as run 17: the check must not pass
    what the download reads differently."""
    path = WORKFLOWS[which][1]
    runs = {"17": _run(path), typed: _run(path)}
    code, outputs, log, calls = check(tmp_path, which, typed, runs)
    assert (code, outputs, calls) == (1, {}, []), log
    assert "must be the number of a workflow run" in log


@pytest.mark.parametrize("which", sorted(WORKFLOWS))
@pytest.mark.parametrize(
    "case",
    ["same display name, other file", "pull request", "other branch", "older commit", "no such run"],
)
def test_a_run_that_is_not_the_held_release_is_refused(tmp_path: Path, which: str, case: str) -> None:
    path = WORKFLOWS[which][1]
    run = {
        "same display name, other file": _run(".github/workflows/pr-helper.yml"),
        "pull request": _run(path, event="pull_request", branch="main"),
        "other branch": _run(path, branch="feature"),
        "older commit": _run(path, sha=OLD_SHA),
    }.get(case)
    code, outputs, log, _ = check(tmp_path, which, "42", {"42": run} if run else {})
    assert (code, outputs) == (1, {}), log
    refusal = "gh: Not Found (HTTP 404)" if run is None else f"not {path} on main at {SHA}"
    assert refusal in log


@pytest.mark.parametrize("which", sorted(WORKFLOWS))
def test_the_override_started_on_another_branch_is_refused(tmp_path: Path, which: str) -> None:
    path = WORKFLOWS[which][1]
    code, outputs, log, calls = check(tmp_path, which, "42", {"42": _run(path)}, ref="refs/heads/feature")
    assert (code, outputs, calls) == (1, {}, []), log
    assert "start this workflow on main, not on refs/heads/feature" in log


@pytest.mark.parametrize("which", sorted(WORKFLOWS))
def test_only_the_checked_id_reaches_the_download(which: str) -> None:
    """The raw input is read by the check step alone; the download and every later
    step take the id it wrote."""
    workflow = WORKFLOWS[which][0]
    steps = _steps(workflow)
    raw = f"inputs.{_input_name(workflow)}"
    readers = [s.get("id") for s in steps if raw in json.dumps(s)]
    assert readers == ["gate-run"]
    ids = [s.get("id") for s in steps]
    [download] = [s for s in steps if str(s.get("uses", "")).startswith("actions/download-artifact")]
    assert ids.index("gate-run") < steps.index(download)
    assert re.fullmatch(r"\$\{\{ steps\.gate-run\.outputs\.run-id \}\}", download["with"]["run-id"])
