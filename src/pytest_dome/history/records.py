"""What a run is recorded as: its start (commit, branch, CI job where the CI says
it), its finish from a verified run folder, and its task rows.

The commit is the change set's head commit (what the evidence records), else
the CI's; the branch and the CI job come from the CI's own variables only (GitHub
Actions, GitLab CI, Buildkite, CircleCI, Jenkins), else the branch from the
repository's ``HEAD`` file (read, no git process). Pure but for that file.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from ..contracts.models import GateDecision, PromotionDecision
from ..runfolder.reader import RecordedRun
from .store import COUNTS, RunFinish, RunStart, TaskRow

_COMMIT = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "CIRCLE_SHA1", "GIT_COMMIT")
_BRANCH = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BUILDKITE_BRANCH", "CIRCLE_BRANCH")


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if environ.get(name):
            return environ[name]
    return None


def ci_job(environ: Mapping[str, str]) -> str | None:
    """The CI job that ran the session, as its CI names it (None: no CI says so)."""
    if environ.get("GITHUB_RUN_ID"):
        attempt = environ.get("GITHUB_RUN_ATTEMPT", "1")
        return f"github:{environ['GITHUB_RUN_ID']}/{attempt}/{environ.get('GITHUB_JOB', '')}".rstrip("/")
    for prefix, name in (
        ("gitlab", "CI_JOB_ID"),
        ("buildkite", "BUILDKITE_JOB_ID"),
        ("circleci", "CIRCLE_WORKFLOW_JOB_ID"),
        ("jenkins", "BUILD_TAG"),
    ):
        if environ.get(name):
            return f"{prefix}:{environ[name]}"
    return None


def git_branch(rootdir: Path) -> str | None:
    """The branch checked out at ``rootdir`` (its ``.git/HEAD``; a worktree's
    ``.git`` file leads to its own), None when detached or not a repository."""
    for folder in (rootdir, *rootdir.parents):
        dot_git = folder / ".git"
        try:
            if dot_git.is_file():
                gitdir = dot_git.read_text(encoding="utf-8").strip().removeprefix("gitdir:").strip()
                head = (folder / gitdir / "HEAD").read_text(encoding="utf-8")
            elif dot_git.is_dir():
                head = (dot_git / "HEAD").read_text(encoding="utf-8")
            else:
                continue
        except (OSError, UnicodeDecodeError):
            return None
        ref = head.strip()
        return ref.removeprefix("ref: refs/heads/") if ref.startswith("ref: refs/heads/") else None
    return None


def run_start(
    run_id: str,
    started_at: str,
    head_commit: str | None,
    rootdir: Path,
    environ: Mapping[str, str] | None = None,
) -> RunStart:
    env = os.environ if environ is None else environ
    return RunStart(
        run_id=run_id,
        started_at=started_at,
        commit_sha=head_commit or _first(env, _COMMIT),
        branch=_first(env, _BRANCH) or git_branch(rootdir),
        ci_job=ci_job(env),
        host=socket.gethostname() or None,
    )


def decided(
    start: RunStart,
    gate: GateDecision,
    promotion: PromotionDecision,
    *,
    finished_at: str,
    exit_status: int,
    manifest_digest: str,
    source: Literal["session", "import"],
) -> RunFinish:
    """A decided run as the store records it."""
    counts = gate.checks.tasks
    return RunFinish(
        run_id=gate.run_id,
        started_at=start.started_at,
        commit_sha=start.commit_sha,
        branch=start.branch,
        ci_job=start.ci_job,
        host=start.host,
        finished_at=finished_at,
        decision=gate.status,
        promotion=promotion.action,
        reason_codes=tuple(gate.reason_codes),
        counts={name: int(getattr(counts, name)) for name in COUNTS},
        exit_status=exit_status,
        risk_score=gate.risk.score,
        input_digest=gate.input_digest,
        decision_digest=gate.decision_digest,
        manifest_digest=manifest_digest,
        source=source,
    )


def imported(recorded: RecordedRun) -> RunFinish:
    """A verified, decided run folder (``runfolder.audit.read_intact``) as the store
    records it: the commit its change set names; branch, CI job and host are not in
    the evidence (a row the session started keeps its own)."""
    gate, promotion = recorded.decision()
    manifest = recorded.manifest
    start = RunStart(manifest.run_id, manifest.started_at, recorded.inputs.change_set.head_commit)
    return decided(
        start,
        gate,
        promotion,
        finished_at=manifest.finished_at,
        exit_status=manifest.exit_status,
        manifest_digest=manifest.manifest_digest,
        source="import",
    )


def task_rows(recorded: RecordedRun) -> Iterator[TaskRow]:
    for r in recorded.results:
        yield TaskRow(r.task_id, r.node_id, r.outcome, r.flaky, len(r.attempts), r.duration_s)
