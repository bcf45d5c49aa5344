"""One redactor for every text dome writes or prints.

It removes the known secrets (the values of secret-looking environment
variables) in every form pytest prints them, and well-known token formats,
replacing each with a marker that names the kind of secret
(``[REDACTED:github_token]``), never a prefix of the secret itself.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import partial
from itertools import islice
from typing import Any

from .secretforms import CUT, PIECE, SecretForms, url_secrets

SECRET_NAME = re.compile(
    r"(?:^|_)(?:[A-Z0-9]*TOKEN|[A-Z0-9]*PASSWORD|SECRET|PASSWD|PASS|PASSPHRASE|API_?KEY|ACCESS_?KEY"
    r"|PRIVATE|CREDENTIALS?|O?AUTH|SESSION|COOKIE)S?(?:_|$)|_(?:PWD|PAT)$",
    re.IGNORECASE,
)
"""Environment variable names whose values are treated as secrets (matched on
``_``-separated words, so ``GIT_AUTHOR_NAME`` is not one)."""

URL_NAME = re.compile(r"(?:^|_)(?:URL|URI|DSN)S?$", re.IGNORECASE)
"""Variables whose value is a URL: only the credentials in it are secret."""

NOT_SECRET = frozenset({"SSH_AUTH_SOCK"})

MIN_SECRET_LENGTH = 6
"""Values shorter than this are left alone (``AUTH_MODE=on`` is no secret)."""

_HOST = r"@[A-Za-z0-9._~%\[\]-]*(?=[/:?#\s'\"<>,;()\[\]{}\\|]|$)"
"""The ``@host`` that ends a URL's credentials: a host, then the end of the authority."""


def _cut_or(prefix: str, whole: str, chars: str = "[A-Za-z0-9_]") -> re.Pattern[str]:
    """A token format: ``prefix`` and the rest of a whole token, or pytest's shortened
    form of one (``ghp_Q7xv2LmN...D6eFgH1jKlM0n``: the prefix, 4 or more of its
    characters, the cut, and what follows it), tried first so no suffix is left."""
    return re.compile(rf"\b{prefix}(?:{chars}{{4,}}\.\.\.[A-Za-z0-9_-]*|{whole})")


# (kind, pattern): group 1, when present, is kept.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)"
        ),
    ),
    ("aws_access_key_id", _cut_or(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])", r"[A-Z0-9]{16}\b", "[A-Z0-9]")),
    (
        "github_token",
        re.compile(
            r"\b(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]{4,}\.\.\.[A-Za-z0-9_-]*"
            r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{22,}"
        ),
    ),
    ("gitlab_token", _cut_or(r"glpat-", r"[A-Za-z0-9_-]{20,}", "[A-Za-z0-9_-]")),
    ("slack_token", _cut_or(r"xox[abposr]-", r"[A-Za-z0-9-]{10,}", "[A-Za-z0-9-]")),
    ("stripe_key", _cut_or(r"(?:sk|rk)_live_", r"[A-Za-z0-9]{16,}", "[A-Za-z0-9]")),
    ("google_api_key", _cut_or(r"AIza", r"[0-9A-Za-z_-]{35}", "[0-9A-Za-z_-]")),
    (
        "jwt",
        re.compile(
            r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]+){0,2}\.\.\.[A-Za-z0-9_.-]*"
            r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
        ),
    ),
    ("bearer_token", re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}")),
    (
        "url_credentials",  # scheme://user:password@host: the user may be empty, the password
        # may hold '/', '@', '?' or '#' (it ends at the last '@' followed by a host)
        re.compile(
            r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"<>\[]*:)(?!\[REDACTED:)[^\s'\"<>]+(?=" + _HOST + ")"
        ),
    ),
    (
        "url_credentials",  # scheme://TOKEN@host: a user of 16 or more token characters,
        # letters and digits both (``git@``, ``deploy-bot@`` are left alone)
        re.compile(
            r"(\b[A-Za-z][A-Za-z0-9+.-]*://)(?=[A-Za-z0-9._~-]*[0-9])(?=[A-Za-z0-9._~-]*[A-Za-z])"
            r"[A-Za-z0-9._~-]{16,}(?=" + _HOST + ")"
        ),
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
the regular expressions that each start with ``\b`` cost 15-25 µs a text where
these checks cost about one."""


BATCH = 500
"""Texts searched at once by :meth:`Redactor.finds_nothing`."""


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _names_a_file(value: str) -> bool:
    return os.path.isabs(value) and "\n" not in value and os.path.isfile(value)


def known_secrets(env: Mapping[str, str]) -> dict[str, set[str]]:
    """The known secrets of an environment: value -> the names of the variables
    that hold it (a URL variable: the credentials in its value)."""
    found: dict[str, set[str]] = {}
    for name, value in env.items():
        if name.upper() in NOT_SECRET:
            continue
        if SECRET_NAME.search(name):
            # GOOGLE_APPLICATION_CREDENTIALS and the like name the file that holds
            # the secret: its path is not one (as a secret, every 10 characters of
            # it would be cut out of the paths in every failure report).
            values = [] if _names_a_file(value) else [value]
        elif URL_NAME.search(name):
            values = url_secrets(value, user_is_key=name.upper().endswith(("DSN", "DSNS")))
        else:
            continue
        for secret in values:
            if len(secret) >= MIN_SECRET_LENGTH:
                found.setdefault(secret, set()).add(name)
    return found


class Redactor:
    """Redacts secrets from text and counts what it removed, by kind."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        extra_patterns: Iterable[tuple[str, str]] = (),
    ) -> None:
        env = os.environ if environ is None else environ
        self._forms = SecretForms(known_secrets(env))
        self._patterns = list(PATTERNS) + [(k, re.compile(p)) for k, p in extra_patterns]
        self._extra = frozenset(k for k, _ in extra_patterns)
        self.counts: Counter[str] = Counter()

    def _candidates(self, text: str) -> list[tuple[str, re.Pattern[str]]]:
        """The patterns that may match ``text`` (see :data:`NEEDS`)."""
        lowered = text.lower()
        found = []
        present: dict[str, bool] = {}  # by kind: two patterns of a kind look once
        for kind, pattern in self._patterns:
            needles = None if kind in self._extra else NEEDS.get(kind)
            if needles is not None:
                if kind not in present:
                    haystack = lowered if kind == "bearer_token" else text
                    present[kind] = any(needle in haystack for needle in needles)
                if not present[kind]:
                    continue
            found.append((kind, pattern))
        return found

    def redact(self, text: str) -> str:
        return self._redact(text, named=False, counts=self.counts)

    def labelled(self, text: str) -> str:
        """``text`` as :meth:`redact` makes it, but each known secret's marker names
        the variables that hold it (``[REDACTED:env_secret:DB_PASSWORD]``): public
        names, which tell apart two ids that differ only by the secret in them."""
        return self._redact(text, named=True, counts=Counter())

    def _redact(self, text: str, named: bool, counts: Counter[str], every: bool = False) -> str:
        text = self._forms.redact(text, named, counts)
        patterns = self._patterns if every else self._candidates(text)
        for kind, pattern in patterns:
            text, found = pattern.subn(partial(_replace, kind=kind), text)
            if found:
                counts[kind] += found
        return text

    def finds_nothing(self, texts: Iterable[str]) -> bool:
        """True when :meth:`redact` would leave every one of ``texts`` as it is:
        one search over a batch of them, instead of one redaction each (a large
        suite's node ids). Newline-joined, so a match within one text is a match in
        its batch. In batches of :data:`BATCH`: all of a suite's ids joined at once
        made one text as long as all of them (four bytes a character once one id
        has a character beyond Latin-1, as jsonschema's do) and its lower-cased
        copy, for which Python first takes three times that: jsonschema's 7,815 ids,
        1 MB of text, raised the peak RSS of every process that planned by 6-7 MiB."""
        batches = iter(texts)
        while batch := list(islice(batches, BATCH)):
            joined = "\n".join(batch)
            if self._forms.finds_any(joined):
                return False
            if any(pattern.search(joined) for _, pattern in self._candidates(joined)):
                return False
        return True

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


__all__ = ["CUT", "PIECE", "Redactor", "marker", "tail"]
