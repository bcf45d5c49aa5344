"""Recorded text made safe to show people: control characters as ``\\xNN``, one line,
a Markdown code span or block that the text cannot break.

A leaf below the reports (``report``) and the baseline's comparisons (``baseline``),
which both show recorded node ids and output.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (but newline and tab) shown as ``\\xNN``:
    recorded output cannot move the cursor, recolour or rewrite a reviewer's terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def one_line(text: str) -> str:
    return printable(text).replace("\n", "\\n")


def md_code(text: str) -> str:
    """``text`` as an inline code span that holds in a Markdown table cell and a list."""
    text = one_line(text).replace("|", "\\|")
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(lines: list[str]) -> list[str]:
    """``lines`` as a fenced code block none of them can close."""
    fence = "`" * max(3, max((len(run) for line in lines for run in re.findall("`+", line)), default=0) + 1)
    return [f"{fence}text", *lines, fence]
