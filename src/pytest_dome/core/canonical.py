"""Canonical JSON and digests: the same content gives the same bytes everywhere."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from json.encoder import encode_basestring
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, fixed separators, UTF-8, no NaN: one byte string per value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def json_string(value: str | None) -> str:
    """A string (or None) as ``json.dumps(..., ensure_ascii=False)`` writes it: for
    the templates that render the per-task artifacts."""
    return "null" if value is None else encode_basestring(value)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``."""
    return sha256_hex(canonical_json(value))


CHUNK = 200
"""Items of a long list rendered at a time: a 50,000-task run's plan and manifest
are written and hashed piece by piece, never held whole in memory."""


def chunks(items: Sequence[Any], render_item: Callable[[Any], str], sep: str) -> Iterator[str]:
    for start in range(0, len(items), CHUNK):
        text = sep.join(render_item(item) for item in items[start : start + CHUNK])
        yield (sep + text) if start else text


def canonical_digest(
    document: dict[str, Any], key: str, items: Sequence[Any], canonical_item: Callable[[Any], str]
) -> str:
    """:func:`digest` of ``document`` with ``document[key] = items``, for a
    ``key`` that sorts first or last among the document's keys, hashed in pieces."""
    head, tail = canonical_ends(document, key)
    return _pieces_digest(head, items, canonical_item, tail)


def canonical_ends(document: dict[str, Any], key: str) -> tuple[bytes, bytes]:
    """The canonical JSON of ``document`` with a list at ``key`` (a key that sorts
    first or last among its keys) before and after the list's items."""
    text = canonical_json({**document, key: []})
    mark = f'"{key}":['.encode()
    keys = sorted({*document, key})
    if keys[0] == key and text.startswith(b"{" + mark + b"]"):
        head, tail = b"{" + mark, text[len(mark) + 1 :]
    elif keys[-1] == key and text.endswith(mark + b"]}"):
        head, tail = text[:-2], b"]}"
    else:
        raise ValueError(f"{key!r} must sort first or last among the document's keys")
    return head, tail


def list_digest(items: Sequence[Any], canonical_item: Callable[[Any], str]) -> str:
    """:func:`digest` of the list ``items`` (``canonical_item`` gives what
    ``canonical_json`` writes for one), hashed in pieces."""
    return _pieces_digest(b"[", items, canonical_item, b"]")


def _pieces_digest(
    head: bytes, items: Sequence[Any], canonical_item: Callable[[Any], str], tail: bytes
) -> str:
    hasher = hashlib.sha256(head)
    for piece in chunks(items, canonical_item, ","):
        hasher.update(piece.encode("utf-8"))
    hasher.update(tail)
    return hasher.hexdigest()
