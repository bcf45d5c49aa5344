"""safejson: the one reader of JSON files. Valid documents read as json.loads reads
them; what dome refuses is refused in one line, before the parser recurses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_dome.runfolder.safejson import MAX_DEPTH, Refused, check_depth, parse, parse_lines, read_file

finite = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@given(finite, st.sampled_from([None, 2]), st.booleans())
def test_valid_documents_read_as_json_loads_reads_them(doc, indent, ascii_only) -> None:
    data = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode()
    assert parse(data) == json.loads(data)


def nested(levels: int, inner: object) -> object:
    for i in range(levels):
        inner = [inner] if i % 2 else {"k[": inner, '"{': "]]}"}
    return inner


@given(st.integers(0, 150), st.text(alphabet='[]{}"\\ab', max_size=8))
def test_depth_is_measured_outside_strings(levels: int, text: str) -> None:
    doc = nested(levels, text)
    data = json.dumps(doc).encode()
    if depth(doc) <= MAX_DEPTH:
        assert parse(data) == doc
    else:
        with pytest.raises(Refused, match=f"nested deeper than {MAX_DEPTH} levels"):
            parse(data)


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b"{" * 70 + b"}",
        b"[" * 80 + b"}" * 80,
        b"[" * 65 + b'"',
    ],
)
def test_deep_or_unbalanced_nesting_is_refused_without_recursion(data: bytes) -> None:
    with pytest.raises(Refused, match="nested deeper than 64 levels"):
        check_depth(data)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"a": NaN}', "NaN is not a number JSON allows"),
        (b"[-Infinity]", "-Infinity is not a number JSON allows"),
        (b"[1e400]", "1e400 is too large for a number"),
        (b"[9007199254740992]", r"9007199254740992 is beyond \+-\(2\*\*53 - 1\)"),
        (b"[" + b"9" * 5000 + b"]", "99999999999999999999... is beyond"),
        (b'["\xff"]', "not UTF-8 \\(byte 0xff at offset 2\\)"),
    ],
)
def test_what_json_loads_takes_and_dome_does_not(data: bytes, why: str) -> None:
    with pytest.raises(Refused, match=why):
        parse(data)


def test_json_lines_split_on_newlines_only() -> None:
    """U+2028 is a line break to str.splitlines, and json.dumps(ensure_ascii=False)
    writes it raw inside a string: an override reason holding one is one record."""
    data = (json.dumps({"reason": "a\u2028b\x85c"}, ensure_ascii=False) + "\n\n" + "[1]\n").encode()
    assert parse_lines(data) == [{"reason": "a\u2028b\x85c"}, [1]]
    with pytest.raises(Refused, match="line 2: NaN"):
        parse_lines(b"[]\nNaN\n")


def test_only_regular_files_under_the_limit_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(Refused, match=r"not a regular file \(a FIFO\)"):
        read_file(fifo, 100)  # opened without blocking: no writer needed
    with pytest.raises(Refused, match=r"not a regular file \(a folder\)"):
        read_file(tmp_path, 100)
    with pytest.raises(Refused, match=r"not a regular file \(a character device\)"):
        read_file("/dev/zero", 100)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(Refused, match=r"larger than the 100 bytes a reader takes \(101 bytes\)"):
        read_file(big, 100)
    (tmp_path / "link").symlink_to(big)  # links are followed: the run folder's rules are audit's
    assert read_file(tmp_path / "link", 101) == b"x" * 101
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "missing", 100)
