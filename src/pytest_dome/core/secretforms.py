"""The forms a known secret takes in pytest's output, and finding them in a text.

A known secret is the value of a secret environment variable (see
:mod:`pytest_dome.core.redact`). pytest rarely prints it as it is: an assertion shows
its ``repr`` (a ``\\`` doubled, a quote escaped), a JSON document escapes it, a URL
percent-encodes it, and a long string is shortened to ``prefix...suffix``
(``saferepr``: ``'ghp_Q7xv2LmN...D6eFgH1jKlM0n'``). :class:`SecretForms` finds
them all:

- every *form* of each secret (:func:`forms_of`), verbatim;
- any run of :data:`PIECE` or more characters of a form, wherever it is (a cut
  string, a diff that skipped the start of a line);
- at pytest's cut (``...``), a prefix of a form that ends there, or a suffix of
  one that starts there, from :data:`CUT` characters.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Mapping
from urllib.parse import quote, quote_plus, unquote

PIECE = 10
"""A run of this many characters of a known secret is redacted wherever it is.
Ten characters of a random token never occur in ordinary text by chance (1 in
62**10 a position), and a secret of ten characters or fewer is only ever
redacted whole, so a short word-like value (``password1``) does not take every
``password`` out of the reports. What a cut leaves of a secret longer than that
is shorter than ten characters at most, per piece: pytest's own shortened
assertion form keeps 12 and 13 characters of a long string."""

PROBE, STRIDE = 5, 6
"""Every run of :data:`PIECE` characters of a form holds one of the form's
PROBE-character slices that start at a multiple of STRIDE (as PIECE >= STRIDE +
PROBE - 1): those slices are what is looked for, each piece found is then grown
to its full run. One ``str.find`` a slice: about L / 6 for a secret of L characters."""

CUT = 4
"""At pytest's cut ``...``, a prefix (before it) or suffix (after it) of a known
secret is redacted from this many characters: the cut leaves at most 3 characters."""

ELLIPSIS = "..."
MARK = "[REDACTED:env_secret]"

_URL = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://(?P<user>[^/\s:@]*)(?::(?P<password>\S*))?"
    r"@[A-Za-z0-9._~%\[\]-]*(?:[/:?#]|$)"
)
"""A URL's credentials, the password up to the last ``@host``: it may hold ``/`` or
``@``. The first ``@host`` is tried too (a path may hold an ``@``): both are secrets."""
_URL_FIRST_AT = re.compile(_URL.pattern.replace(r"\S*)", r"\S*?)"))
_HEX = re.compile(r"%[0-9A-F]{2}")


def url_secrets(value: str, user_is_key: bool = False) -> list[str]:
    """The credentials of a URL value (``scheme://user:password@host``): the
    password, or a user alone when it is a key (a DSN's) or looks like a token
    (16 or more characters, letters and digits), as written and decoded."""
    found: set[str] = set()
    for pattern in (_URL, _URL_FIRST_AT):
        match = pattern.match(value.strip())
        if match is None:
            continue
        password, user = match.group("password"), match.group("user")
        if password:
            found |= {password, unquote(password)}
        elif user_is_key or (len(user) >= 16 and re.search(r"[0-9]", user) and re.search(r"[A-Za-z]", user)):
            found |= {user, unquote(user)}
    return sorted(found)


def forms_of(value: str) -> set[str]:
    """``value`` as pytest and the tests around it may print it: verbatim; as in a
    ``repr`` or ``ascii`` (and that once more: a repr inside a repr); JSON-escaped;
    percent-encoded (upper- or lower-case hex); HTML-escaped."""
    first = {
        value,
        repr(value)[1:-1],
        ascii(value)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    first |= {f.replace("'", "\\'") for f in first} | {f.replace('"', '\\"') for f in first}
    forms = first | {repr(f)[1:-1] for f in first} | {json.dumps(f)[1:-1] for f in first}
    encoded = {quote(value, safe=""), quote(value, safe="/"), quote_plus(value), quote_plus(value, safe="/")}
    forms |= encoded | {_HEX.sub(lambda m: m.group().lower(), f) for f in encoded}
    forms |= {html.escape(value), html.escape(value, quote=False)}
    return forms


class SecretForms:
    """Finds and redacts the known secrets, in all their forms, in a text."""

    def __init__(self, secrets: Mapping[str, set[str]]) -> None:
        names: dict[str, set[str]] = {}
        for value, holders in secrets.items():
            for form in forms_of(value):
                names.setdefault(form, set()).update(holders)
        self._label = {form: ",".join(sorted(held)) for form, held in names.items()}
        # Longest first, so a secret that contains another is removed whole.
        self._forms = sorted(names, key=lambda f: (-len(f), f))
        self._probes: dict[str, list[tuple[str, int]]] = {}
        self._before: dict[str, list[tuple[str, int]]] = {}  # last CUT chars of a prefix
        self._after: dict[str, list[tuple[str, int]]] = {}  # first CUT chars of a suffix
        for form in self._forms:
            if len(form) > PIECE:
                for at in range(0, len(form) - PROBE + 1, STRIDE):
                    self._probes.setdefault(form[at : at + PROBE], []).append((form, at))
            for end in range(CUT, len(form)):
                self._before.setdefault(form[end - CUT : end], []).append((form, end))
            for start in range(1, len(form) - CUT + 1):
                self._after.setdefault(form[start : start + CUT], []).append((form, start))

    def _mark(self, form: str, named: bool) -> str:
        return f"[REDACTED:env_secret:{self._label[form]}]" if named else MARK

    def finds_any(self, text: str) -> bool:
        """Whether :meth:`redact` would change ``text``."""
        return any(form in text for form in self._forms) or bool(self._pieces(text))

    def redact(self, text: str, named: bool, counts: Counter[str]) -> str:
        """``text`` without the known secrets: each form, then each piece."""
        for form in self._forms:
            if form in text:
                counts["env_secret"] += text.count(form)
                text = text.replace(form, self._mark(form, named))
        spans = self._pieces(text)
        if not spans:
            return text
        spans.sort()
        parts: list[str] = []
        done = 0
        start, end, form = spans[0]
        for next_start, next_end, next_form in [*spans[1:], (len(text) + 1, 0, "")]:
            if next_start <= end:  # overlapping or touching: one piece
                end = max(end, next_end)
                continue
            parts += [text[done:start], self._mark(form, named)]
            counts["env_secret"] += 1
            done, (start, end, form) = end, (next_start, next_end, next_form)
        return "".join([*parts, text[done:]])

    def _pieces(self, text: str) -> list[tuple[int, int, str]]:
        """The spans of ``text`` that are pieces of a form: ``(start, end, form)``."""
        spans: list[tuple[int, int, str]] = []
        size = len(text)
        for probe, places in self._probes.items():
            at = text.find(probe)
            while at != -1:
                for form, offset in places:
                    left, right, low, high = at, at + PROBE, offset, offset + PROBE
                    while left and low and text[left - 1] == form[low - 1]:
                        left, low = left - 1, low - 1
                    while right < size and high < len(form) and text[right] == form[high]:
                        right, high = right + 1, high + 1
                    if right - left >= PIECE:
                        spans.append((left, right, form))
                at = text.find(probe, at + 1)
        if self._before and ELLIPSIS in text:
            at = text.find(ELLIPSIS)
            while at != -1:
                for form, end in self._before.get(text[at - CUT : at], ()) if at >= CUT else ():
                    if at >= end and text.startswith(form[:end], at - end):
                        spans.append((at - end, at, form))
                after = at + len(ELLIPSIS)
                for form, start in self._after.get(text[after : after + CUT], ()):
                    if text.startswith(form[start:], after):
                        spans.append((after, after + len(form) - start, form))
                at = text.find(ELLIPSIS, at + 1)
        return spans
