"""The demo suite gated by `just smoke`: each test is an implementer task."""

from __future__ import annotations

import pytest
from release_notes import bump, render


@pytest.mark.parametrize(
    ("part", "expected"), [("major", "2.0.0"), ("minor", "1.3.0"), ("patch", "1.2.4")]
)
def test_bump(part: str, expected: str) -> None:
    assert bump("1.2.3", part) == expected


def test_bump_rejects_unknown_part() -> None:
    with pytest.raises(ValueError, match="unknown version part"):
        bump("1.2.3", "build")


def test_render_sorts_changes() -> None:
    assert render("1.3.0", ["zeta", "alpha"]) == "## 1.3.0\n\n- alpha\n- zeta\n"


def test_render_without_changes() -> None:
    assert "- no changes" in render("1.3.0", [])
