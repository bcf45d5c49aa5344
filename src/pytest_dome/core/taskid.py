"""Stable, filename-safe task ids derived from pytest node ids."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .redact import Redactor

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Run ids and task ids: safe as one file or folder name on any system."""


def is_safe_id(value: object) -> bool:
    return isinstance(value, str) and bool(SAFE_ID.fullmatch(value)) and ".." not in value


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")
_SLUG_MAX = 96
_HASH_LEN = 12


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def task_id_for(node_id: str, shown: str | None = None) -> str:
    """A task id for ``node_id``: a readable slug plus a hash of the node id.

    The slug keeps the id readable (``tests_test_api.py_test_login-3f2a...``);
    the hash keeps ids distinct for node ids that slug alike, differ only by
    case (case-insensitive file systems) or are very long. The result matches
    ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}`` and never contains ``..``. ``shown`` is
    the node id as it may be shown (:func:`shown_node_id`): slug and hash both
    come from it, so a file name holds neither a secret in a test id nor a hash
    of one (which would confirm a guessed secret offline).
    """
    name = node_id if shown is None else shown
    slug = _UNSAFE.sub("_", name)
    slug = _DOTS.sub(".", slug)
    slug = slug.lstrip("._-")[:_SLUG_MAX].rstrip("._-")
    tail = _digest(name)[:_HASH_LEN]
    return f"{slug}-{tail}" if slug else f"t-{tail}"


def shown_node_id(node_id: str, redactor: Redactor) -> str:
    """``node_id`` with secrets redacted, and ``#`` and 8 hex digits of a hash that
    keeps two redacted ids apart; unchanged when it holds no secret.

    The hash is of the id as :meth:`~pytest_dome.core.redact.Redactor.labelled` writes
    it: each known secret replaced by the names of the variables that hold it,
    each token by its kind. It depends on nothing secret (the same variables give
    the same id on any machine, serially or under xdist), and confirms no guess
    of one. Two ids that differ only by tokens of one kind in one place are shown
    alike: the plan refuses them (see :func:`pytest_dome.core.plan.make_plan`).
    """
    shown = redactor.redact(node_id)
    if shown == node_id:
        return node_id
    return f"{shown}#{_digest(redactor.labelled(node_id))[:8]}"
