"""The working tree's state in a run's change set: clean, or dirty with a digest of the
changed paths and their content (``changes.worktree``), outside the decision's digest."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_dome.contracts.models import WorkTree
from pytest_dome.session.changes import worktree

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


def repo(folder: Path, files: dict[str, str]) -> Path:
    """A git repository at ``folder`` with ``files`` committed and ``*.log`` ignored."""
    for name, text in {**files, ".gitignore": "*.log\n"}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=folder, check=True)
    subprocess.run([*GIT, "commit", "-qm", "base"], cwd=folder, check=True)
    return folder


def test_clean_dirty_untracked_ignored_and_dome_output(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert worktree(tmp_path_factory.mktemp("plain")) is None  # not a repository
    top = repo(tmp_path_factory.mktemp("repo"), {"app.py": "x = 1\n", "lib/util.py": "y = 2\n"})
    clean = WorkTree(state="clean", changed_paths=0, digest=None)
    assert worktree(top) == clean
    (top / "debug.log").write_text("ignored\n")
    (top / "ops/runtime/runs/r1").mkdir(parents=True)
    (top / "ops/runtime/runs/.r1.lock").write_text("123\n")
    assert worktree(top, [top / "ops/runtime/runs", top / "ops/runtime"]) == clean
    lock = worktree(top)
    assert lock is not None and (lock.state, lock.changed_paths) == ("dirty", 1)  # unless named as dome's
    assert worktree(top, [top.parent]) == lock  # a folder outside the repository is left out of git's args
    (top / "notes.txt").write_text("untracked\n")
    untracked = worktree(top, [top / "ops"])
    assert untracked is not None and (untracked.state, untracked.changed_paths) == ("dirty", 1)
    (top / "lib/util.py").unlink()
    deleted = worktree(top, [top / "ops"])
    assert deleted is not None and deleted.changed_paths == 2 and deleted.digest != untracked.digest
    subprocess.run(["git", "mv", "app.py", "main.py"], cwd=top, check=True)
    moved = worktree(top, [top / "ops"])
    assert moved is not None and moved.changed_paths == 4  # both names of the rename


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.text(max_size=20), second=st.text(max_size=20))
def test_two_dirty_trees_differ_when_their_content_does(tmp_path_factory, first: str, second: str) -> None:
    top = repo(tmp_path_factory.mktemp("repo"), {"app.py": "committed\n"})
    states = []
    for text in (first, second):
        (top / "app.py").write_text(f"edited {text}")
        states.append(worktree(top))
    assert all(s is not None and s.state == "dirty" and s.changed_paths == 1 for s in states)
    assert (states[0] == states[1]) == (first == second)


def test_the_tree_state_is_recorded_but_not_digested(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    repo(pytester.path, {})
    pytester.runpytest("--dome-run-id=clean")
    (pytester.path / "notes.txt").write_text("not committed\n")
    pytester.runpytest("--dome-run-id=dirty")
    clean, dirty = dome_run("clean"), dome_run("dirty")  # both verify and replay
    trees = [json.loads((r.path / "inputs/change_set.json").read_text())["worktree"] for r in (clean, dirty)]
    assert trees[0] == {"state": "clean", "changed_paths": 0, "digest": None}
    assert (trees[1]["state"], trees[1]["changed_paths"]) == ("dirty", 1)
    assert clean.gate["decision_digest"] == dirty.gate["decision_digest"]
    assert clean.gate["input_digest"] == dirty.gate["input_digest"]
