"""The change set: which files changed against the base ref, resolved with git."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from .models import ChangeSet, ChangeSetCheck, ChangeSetStatus

GIT_TIMEOUT = 60


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A path glob: ``*`` and ``?`` stay within a folder, ``**/`` spans any folders."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def sensitive(files: Iterable[str], globs: Iterable[str]) -> tuple[str, ...]:
    patterns = [glob_to_regex(g) for g in globs]
    return tuple(f for f in files if any(p.match(f) for p in patterns))


def _git(args: list[str], cwd: Path) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=GIT_TIMEOUT,
        stdin=subprocess.DEVNULL,
    ).stdout


def head_commit(rootdir: Path) -> str | None:
    try:
        return _git(["rev-parse", "--verify", "HEAD^{commit}"], rootdir).strip() or None
    except (subprocess.SubprocessError, OSError):
        return None


def unknown(
    status: ChangeSetStatus = "not_requested", base_ref: str | None = None, detail: str | None = None
) -> ChangeSet:
    """A change set with no files: none asked for, or none could be resolved."""
    return ChangeSet(
        status=status,
        base_ref=base_ref,
        base_commit=None,
        head_commit=None,
        files=(),
        sensitive_files=(),
        detail=detail,
    )


def resolve_change_set(base_ref: str | None, rootdir: Path, globs: Iterable[str]) -> ChangeSet:
    """Resolve ``base_ref`` and list the changed files (``git diff --name-only BASE...HEAD``).

    Never raises: no base ref, no git or an unknown ref is recorded as the
    change set's status (and scored by the policy), never silently ignored.
    """
    if not base_ref:
        # No change set asked for; the commit under test is still an input, so that
        # shards of different commits never merge.
        return unknown("not_requested", None, None).model_copy(update={"head_commit": head_commit(rootdir)})
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], rootdir).strip())
    except FileNotFoundError:
        return unknown("no_git", base_ref, "git is not installed")
    except (subprocess.SubprocessError, OSError) as exc:
        return unknown("no_git", base_ref, f"not a git work tree: {_first_line(exc)}")
    try:
        base = _git(["rev-parse", "--verify", "--quiet", f"{base_ref}^{{commit}}"], top).strip()
        head = _git(["rev-parse", "--verify", "HEAD^{commit}"], top).strip()
        names = _git(["diff", "--name-only", "-z", f"{base}...{head}"], top)
    except (subprocess.SubprocessError, OSError) as exc:
        return unknown("unresolved", base_ref, f"cannot resolve {base_ref!r}: {_first_line(exc)}")
    files = sorted(name for name in names.split("\0") if name)  # relative to the repo root
    return ChangeSet(
        status="resolved",
        base_ref=base_ref,
        base_commit=base,
        head_commit=head,
        files=tuple(files),
        sensitive_files=sensitive(files, globs),
        detail=None,
    )


def _first_line(exc: BaseException) -> str:
    stderr = getattr(exc, "stderr", None)
    text = (stderr or str(exc) or type(exc).__name__).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def summary(change_set: ChangeSet) -> ChangeSetCheck:
    return ChangeSetCheck(
        status=change_set.status,
        changed_files=len(change_set.files),
        sensitive_files=len(change_set.sensitive_files),
    )
