"""One redactor for every text dome writes or prints.

It removes the values of secret-looking environment variables and well-known
token formats, replacing each with a marker that names the kind of secret
(``[REDACTED:github_token]``), never a prefix of the secret itself.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

SECRET_NAME = re.compile(
    r"(?:^|_)(?:[A-Z0-9]*TOKEN|SECRET|PASSWORD|PASSWD|PASS|API_?KEY|ACCESS_?KEY|PRIVATE"
    r"|CREDENTIALS?|O?AUTH|SESSION|COOKIE)S?(?:_|$)",
    re.IGNORECASE,
)
"""Environment variable names whose values are treated as secrets (matched on
``_``-separated words, so ``GIT_AUTHOR_NAME`` is not one)."""

NOT_SECRET = frozenset({"SSH_AUTH_SOCK"})

MIN_SECRET_LENGTH = 6
"""Values shorter than this are left alone (``AUTH_MODE=on`` is no secret)."""

# (kind, pattern, replacement group): group 1, when present, is kept.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)"
        ),
    ),
    ("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("stripe_key", re.compile(r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer_token", re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}")),
    (
        "url_credentials",
        re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)(?!\[REDACTED:)[^@\s/]+(?=@)"),
    ),
)


NEEDS: dict[str, tuple[str, ...]] = {
    "private_key": ("PRIVATE KEY",),
    "aws_access_key_id": ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab_token": ("glpat-",),
    "slack_token": ("xox",),
    "stripe_key": ("_live_",),
    "google_api_key": ("AIza",),
    "jwt": ("eyJ",),
    "bearer_token": ("bearer",),  # matched case-insensitively: looked for in the lowered text
    "url_credentials": ("://",),
}
"""For each built-in pattern, literal text any match of it contains: a text with
none of them is not searched with it. A node id of a real suite holds none, and
ten regular expressions that each start with ``\b`` cost 15-25 µs a text where
these checks cost about one."""


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


class Redactor:
    """Redacts secrets from text and counts what it removed, by kind."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        extra_patterns: Iterable[tuple[str, str]] = (),
    ) -> None:
        env = os.environ if environ is None else environ
        values = {
            value
            for name, value in env.items()
            if SECRET_NAME.search(name) and name.upper() not in NOT_SECRET and len(value) >= MIN_SECRET_LENGTH
        }
        # Longest first, so a secret that contains another is removed whole.
        self._env_values = sorted(values, key=lambda v: (-len(v), v))
        self._patterns = list(PATTERNS) + [(k, re.compile(p)) for k, p in extra_patterns]
        self._extra = frozenset(k for k, _ in extra_patterns)
        self.counts: Counter[str] = Counter()

    def _candidates(self, text: str) -> list[tuple[str, re.Pattern[str]]]:
        """The patterns that may match ``text`` (see :data:`NEEDS`)."""
        lowered = text.lower()
        found = []
        for kind, pattern in self._patterns:
            needles = None if kind in self._extra else NEEDS.get(kind)
            if needles is not None:
                haystack = lowered if kind == "bearer_token" else text
                if not any(needle in haystack for needle in needles):
                    continue
            found.append((kind, pattern))
        return found

    def redact(self, text: str) -> str:
        for value in self._env_values:
            if value in text:
                self.counts["env_secret"] += text.count(value)
                text = text.replace(value, marker("env_secret"))
        for kind, pattern in self._candidates(text):
            text, found = pattern.subn(partial(_replace, kind=kind), text)
            if found:
                self.counts[kind] += found
        return text

    def finds_nothing(self, texts: Iterable[str]) -> bool:
        """True when :meth:`redact` would leave every one of ``texts`` as it is:
        one search over them all, instead of one redaction each (a large suite's
        node ids). Newline-joined, so a match within one text is a match in all."""
        joined = "\n".join(texts)
        if any(value in joined for value in self._env_values):
            return False
        return not any(pattern.search(joined) for _, pattern in self._candidates(joined))

    def redact_value(self, value: Any) -> Any:
        """A JSON value with every string in it redacted (keys included)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self.redact_value(v) for v in value]
        if isinstance(value, dict):
            return {self.redact(k): self.redact_value(v) for k, v in value.items()}
        return value


def _replace(match: re.Match[str], kind: str) -> str:
    keep = match.group(1) if match.re.groups and match.group(1) else ""
    return keep + marker(kind)


def tail(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text``, marked when cut."""
    if len(text) <= limit:
        return text
    cut = "[...]\n"
    return cut + text[-(limit - len(cut)) :]
