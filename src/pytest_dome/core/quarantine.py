"""The quarantine file applied to a plan: which planned tasks it shields, as of a day.

Pure: no clock. The day an entry is judged against (``as_of``) is an input, the
UTC day the run started (its manifest's ``started_at``), so a replay next year
decides as the run did. docs/quarantine.md is the policy this implements.

Patterns: a pattern is matched whole and case-sensitively against a task's id
and its node id (as the plan shows it). ``*`` stands for any characters,
``/`` and ``::`` included, ``?`` for one; every other character is itself.
Not ``fnmatch``: its ``[...]`` classes would make ``test_x[1]``, a
parametrized test's own id, match ``test_x1`` and not itself; and
``fnmatch.fnmatch`` folds case on Windows, so one file would shield other tests
there. A pattern without ``*`` or ``?`` is an exact id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..contracts.models import QuarantineCheck, QuarantineFile, TaskOutcome
from .canonical import digest
from .plan import PlannedTask

SHIELDED_OUTCOMES: frozenset[TaskOutcome] = frozenset({"failed", "error"})
"""The outcomes a quarantine shields: a test that ran and failed. Not ``missing``:
no result is missing evidence, never the quarantined test's known failure."""

WILDCARDS = frozenset("*?")


def is_exact(pattern: str) -> bool:
    return not WILDCARDS & set(pattern)


def pattern_regex(pattern: str) -> str:
    """The regular expression (for ``fullmatch``) of a pattern: ``*`` and ``?`` only."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def matches(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches ``text`` whole (see the module's docstring)."""
    return re.fullmatch(pattern_regex(pattern), text, re.DOTALL) is not None


def is_expired(expires: str, as_of: str) -> bool:
    """An entry shields its tests through its ``expires`` day, and no longer on a run
    that started on a later day. Both are ISO dates (``YYYY-MM-DD``), which order as
    strings order."""
    return expires < as_of


def as_of_day(started_at: str) -> str:
    """The UTC day of a run's recorded start (an RFC 3339 UTC timestamp)."""
    return started_at[:10]


def file_digest(document: QuarantineFile) -> str:
    """SHA-256 of the canonical JSON of the recorded ``inputs/quarantine.json``."""
    return digest(document.model_dump(mode="json"))


@dataclass(frozen=True)
class Applied:
    """The quarantine file applied to a plan: everything the gate needs of it."""

    digest: str
    as_of: str
    entries: int
    matched: frozenset[str]
    """Task ids an unexpired entry matches."""
    expired: tuple[str, ...]
    unmatched: tuple[str, ...]

    def check(self, failures: Sequence[str]) -> QuarantineCheck:
        return QuarantineCheck(
            quarantine_digest=self.digest,
            as_of=self.as_of,
            entries=self.entries,
            quarantined=len(self.matched),
            failures=tuple(sorted(failures)),
            expired=self.expired,
            unmatched=self.unmatched,
        )


def apply(document: QuarantineFile, as_of: str, tasks: Iterable[PlannedTask]) -> Applied:
    """Which planned tasks the unexpired entries of ``document`` match, on ``as_of``.

    Exact patterns are looked up; the others are tried together first (one regular
    expression of all of them), so a large plan costs one match per id."""
    expired = sorted({e.pattern for e in document.entries if is_expired(e.expires, as_of)})
    active = [e.pattern for e in document.entries if not is_expired(e.expires, as_of)]
    exact = {p for p in active if is_exact(p)}
    globs = [(p, re.compile(pattern_regex(p), re.DOTALL)) for p in active if not is_exact(p)]
    any_glob = re.compile("|".join(f"(?:{r.pattern})" for _, r in globs), re.DOTALL) if globs else None
    used: set[str] = set()
    matched: set[str] = set()
    for task in tasks:
        keys = (task.task_id, task.node_id)
        hit = [k for k in keys if k in exact]
        used.update(hit)
        if any_glob is not None and any(any_glob.fullmatch(k) for k in keys):
            for pattern, regex in globs:
                if any(regex.fullmatch(k) for k in keys):
                    used.add(pattern)
                    hit.append(pattern)
        if hit:
            matched.add(task.task_id)
    return Applied(
        digest=file_digest(document),
        as_of=as_of,
        entries=len(document.entries),
        matched=frozenset(matched),
        expired=tuple(expired),
        unmatched=tuple(sorted(set(active) - used)),
    )
