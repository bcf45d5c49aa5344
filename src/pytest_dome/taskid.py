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


def task_id_for(node_id: str, shown: str | None = None) -> str:
    """A task id for ``node_id``: a readable slug plus a hash of the exact node id.

    The slug keeps the id readable (``tests_test_api.py_test_login-3f2a...``);
    the hash keeps ids distinct for node ids that slug alike, differ only by
    case (case-insensitive file systems) or are very long. The result matches
    ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}`` and never contains ``..``. ``shown`` is
    the node id as it may be shown (redacted): the slug comes from it, the hash
    from the real node id, so a secret in a test id never reaches a file name.
    """
    slug = _UNSAFE.sub("_", node_id if shown is None else shown)
    slug = _DOTS.sub(".", slug)
    slug = slug.lstrip("._-")[:_SLUG_MAX].rstrip("._-")
    tail = hashlib.sha256(node_id.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]
    return f"{slug}-{tail}" if slug else f"t-{tail}"


def shown_node_id(node_id: str, redactor: Redactor) -> str:
    """``node_id`` with secrets redacted; a short hash of the real id keeps two
    redacted ids apart. Unchanged when it holds no secret."""
    shown = redactor.redact(node_id)
    if shown == node_id:
        return node_id
    return f"{shown}#{hashlib.sha256(node_id.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
