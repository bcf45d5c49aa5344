"""Run the repository's CI files here, without GitHub or GitLab: the steps of
a composite action and the scripts of GitLab jobs, with their real scripts
and the real `dome` commands. What the hosted services do themselves (the
artifact store, a job's container) is stood in for by a folder."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOKEN = re.compile(r"\s*(&&|\|\||==|!=|!|\(|\)|'[^']*'|[A-Za-z_][\w.-]*)")


def evaluate(expression: str, context: dict[str, Any], failed: bool) -> Any:
    """A GitHub expression of the few forms our actions use: context look-ups,
    string literals, ==, !=, !, &&, || and the status functions."""
    python, rest = [], expression.strip()
    while rest:
        match = TOKEN.match(rest)
        assert match, f"cannot read {rest!r} in {expression!r}"
        token, rest = match.group(1), rest[match.end() :]
        if token in {"success", "failure", "cancelled", "always"} and rest.startswith("()"):
            python.append(
                repr({"success": not failed, "failure": failed, "cancelled": False}.get(token, True))
            )
            rest = rest[2:]
        elif token[0] == "'":
            python.append(repr(token[1:-1]))
        elif token[0].isalpha() or token[0] == "_":
            value: Any = context
            for part in token.split("."):
                value = value.get(part, "") if isinstance(value, dict) else ""
            python.append(repr(value))
        else:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(token, token))
    return eval("".join(python), {"__builtins__": {}})


def substitute(text: str, context: dict[str, Any], failed: bool = False) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m.group(1), context, failed)), str(text))


@dataclass
class Job:
    """What one emulated job left: its step outputs, summary, uploads and log."""

    outputs: dict[str, str] = field(default_factory=dict)
    steps: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    uploads: dict[str, Path] = field(default_factory=dict)
    summary: str = ""
    failed_step: str | None = None
    log: str = ""


def run_action(
    action_dir: Path, inputs: dict[str, str], workspace: Path, store: Path, run_id: str = "77"
) -> Job:
    """Run a composite action's steps in ``workspace`` the way a runner does;
    upload-artifact and download-artifact use the folder ``store``."""
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    declared = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs not declared by the action: {unknown}"
    job, summary = Job(), workspace / "step-summary.md"
    context: dict[str, Any] = {
        "inputs": {**declared, **inputs},
        "github": {"action_path": str(action_dir)},
        "steps": job.steps,
    }
    env = {**os.environ, "GITHUB_RUN_ID": run_id, "GITHUB_RUN_ATTEMPT": "2"}
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    for number, step in enumerate(action["runs"]["steps"]):
        condition = re.sub(r"^\s*\$\{\{(.*)\}\}\s*$", r"\1", step.get("if", "success()"))
        if "()" not in condition:
            condition = f"success() && ({condition})"
        if not evaluate(condition, context, job.failed_step is not None):
            continue
        with_ = {k: substitute(v, context) for k, v in step.get("with", {}).items()}
        if "uses" in step:
            _artifact(step["uses"], with_, workspace, store, job)
            continue
        output = workspace / f".output-{number}"
        output.write_text("")
        step_env = {k: substitute(v, context) for k, v in step.get("env", {}).items()}
        cwd = workspace / substitute(step.get("working-directory", "."), context)
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd,
            env={**env, **step_env, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
        )
        job.log += f"--- {step['name']} (exit {result.returncode})\n{result.stdout}{result.stderr}"
        if "id" in step:
            job.steps[step["id"]] = {"outputs": _read_outputs(output)}
        if result.returncode != 0 and job.failed_step is None:
            job.failed_step = step["name"]
    job.outputs = {name: substitute(spec["value"], context) for name, spec in action["outputs"].items()}
    job.summary = summary.read_text() if summary.exists() else ""
    return job


def _read_outputs(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


def _artifact(uses: str, with_: dict[str, str], workspace: Path, store: Path, job: Job) -> None:
    """upload-artifact keeps a folder's contents under its name; download-artifact
    with a pattern puts each matching artifact in path/<name>/."""
    name = uses.split("@")[0]
    if name == "actions/upload-artifact":
        source = workspace / with_["path"]
        job.uploads[with_["name"]] = store / with_["name"]
        if source.is_dir():
            shutil.copytree(source, store / with_["name"])
    elif name == "actions/download-artifact":
        for artifact in sorted(store.iterdir()):
            if fnmatch.fnmatch(artifact.name, with_["pattern"]):
                shutil.copytree(artifact, workspace / with_["path"] / artifact.name)
    else:
        raise AssertionError(f"no stand-in for {uses}")


def run_gitlab_job(
    config: dict[str, Any], name: str, workspace: Path, variables: dict[str, str]
) -> tuple[int, str]:
    """A GitLab job's script, then its after_script, in one bash (the
    before_script installs pytest-dome, which this machine already has); the
    global variables, then the job's and the given ones (CI_*, matrix)."""
    job = config[name]
    for parent in [job.get("extends")] if isinstance(job.get("extends"), str) else job.get("extends", []):
        job = {**config[parent], **job}
    env = {**os.environ, **variables}
    for defined in (config.get("variables", {}), job.get("variables", {}), variables):
        for key, value in defined.items():  # GitLab expands variables in variables
            env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), str(value))
    bin_dir = workspace / ".bin"  # the image's `python` is this interpreter
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python").exists():  # a script, not a symlink: Python 3.10 finds
        # a virtual environment from the path it was started by, not the link's target
        (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (bin_dir / "python").chmod(0o755)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    script = "\n".join(job["script"])
    main = subprocess.run(["bash", "-ec", script], cwd=workspace, env=env, capture_output=True, text=True)
    log = main.stdout + main.stderr
    if "after_script" in job:
        after = subprocess.run(
            ["bash", "-c", "\n".join(job["after_script"])],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
        )
        log += after.stdout + after.stderr
    return main.returncode, log
