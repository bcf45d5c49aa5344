"""The change set: which files changed against the base ref, resolved with git
(once, when a gated session is configured: :func:`session_change_set`)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.inikeys import OUTPUT_ROOT
from ..contracts.models import ChangeSet, ChangeSetStatus, WorkTree
from ..runfolder.safejson import file_sha256

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..core.redact import Redactor

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


def worktree(top: Path, outputs: Iterable[Path] = ()) -> WorkTree | None:
    """The state of the working tree at ``top`` (a repository's root) against HEAD, from
    ``git status --porcelain=v1 -z``: untracked files count, ignored files do not, nor
    anything under ``outputs`` (dome's own output folders). Dirty: the count of changed
    paths and a SHA-256 over each one's name and what is there now (the bytes of a
    file, the target of a symlink, or that it is gone), so two different dirty trees
    differ. None when git fails."""
    top = top.resolve()
    excluded = []
    for folder in outputs:
        try:
            rel = folder.resolve().relative_to(top)
        except ValueError:  # outside the repository: git would refuse the pathspec
            continue
        if rel.parts:
            excluded.append(f":(exclude,literal){rel.as_posix()}")
    argv = ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".", *excluded]
    try:
        out = subprocess.run(
            argv, cwd=top, capture_output=True, check=True, timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    paths: set[bytes] = set()
    fields = iter(out.split(b"\0"))
    for entry in fields:
        if len(entry) < 4:  # the empty field after the last NUL
            continue
        paths.add(entry[3:])
        if b"R" in entry[:2] or b"C" in entry[:2]:  # a rename or copy: then its origin
            paths.add(next(fields, b""))
    paths.discard(b"")
    if not paths:
        return WorkTree(state="clean", changed_paths=0, digest=None)
    hasher = hashlib.sha256()
    for path in sorted(paths):
        hasher.update(b"%d:%s %s\n" % (len(path), path, _content_digest(top / os.fsdecode(path))))
    return WorkTree(state="dirty", changed_paths=len(paths), digest=hasher.hexdigest())


def _content_digest(path: Path) -> bytes:
    """What is at ``path`` now: a file's SHA-256, a symlink's target's, or a word."""
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            return b"link " + hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest().encode()
        if not stat.S_ISREG(mode):
            return b"directory" if stat.S_ISDIR(mode) else b"special"  # a submodule, a FIFO
        return b"file " + file_sha256(path).encode()
    except FileNotFoundError:
        return b"deleted"
    except OSError:
        return b"unreadable"


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


def resolve_change_set(
    base_ref: str | None, rootdir: Path, globs: Iterable[str], outputs: Iterable[Path] = ()
) -> ChangeSet:
    """Resolve ``base_ref`` and list the changed files (``git diff --name-only BASE...HEAD``),
    and record the state of the working tree (:func:`worktree`; ``outputs`` are dome's
    own folders) whenever the head commit is known.

    Never raises: no base ref, no git or an unknown ref is recorded as the
    change set's status (and scored by the policy), never silently ignored.
    """
    if not base_ref:
        # No change set asked for; the commit under test is still an input, so that
        # shards of different commits never merge.
        head = head_commit(rootdir)
        tree = _worktree_of(rootdir, outputs) if head else None
        return unknown("not_requested", None, None).model_copy(update={"head_commit": head, "worktree": tree})
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
        worktree=worktree(top, outputs),
    )


def _worktree_of(rootdir: Path, outputs: Iterable[Path]) -> WorkTree | None:
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], rootdir).strip())
    except (subprocess.SubprocessError, OSError):
        return None
    return worktree(top, outputs)


def _first_line(exc: BaseException) -> str:
    stderr = getattr(exc, "stderr", None)
    text = (stderr or str(exc) or type(exc).__name__).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def session_change_set(settings: Settings, redactor: Redactor) -> ChangeSet:
    """The change set of a gated session, as it is recorded: resolved against the
    settings' base ref, without dome's own output folders, the ref and git's
    message redacted."""
    change_set = resolve_change_set(
        settings.base_ref,
        settings.rootdir,
        settings.policy.change_set.sensitive_globs,
        # dome's output is not the code under test (run folders, their locks, attestations)
        outputs=(settings.runtime_dir, settings.rootdir / OUTPUT_ROOT),
    )
    return change_set.model_copy(
        update={
            "detail": change_set.detail and redactor.redact(change_set.detail),
            "base_ref": change_set.base_ref and redactor.redact(change_set.base_ref),
        }
    )
