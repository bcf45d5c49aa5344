"""pytest's private API is used in one module, session/pytest_private.py, which says
why each use is needed and what breaks when pytest changes it.

import-linter's "private-pytest" contract holds the ``_pytest`` imports; this test
also holds the private attributes (``session._setupstate``), which no import shows.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "pytest_dome"
HOME = SRC / "session" / "pytest_private.py"
NAMED_TUPLE = {"_make", "_replace", "_asdict", "_fields"}
"""Underscore names that are a named tuple's public API."""


def private_uses(path: Path) -> list[str]:
    """``_pytest`` imports and ``x._name`` attribute reads of another object's private
    member (not ``self``/``cls``, not a named tuple's API) in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if not node.level else []
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in NAMED_TUPLE
            and ast.unparse(node.value) not in ("self", "cls")
        ):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}")
            continue
        else:
            continue
        found += [
            f"{path.relative_to(SRC)}:{node.lineno}: import {n}"
            for n in names
            if n.split(".")[0] == "_pytest"
        ]
    return found


def test_private_pytest_api_is_used_in_one_module_only() -> None:
    elsewhere = [use for path in sorted(SRC.rglob("*.py")) if path != HOME for use in private_uses(path)]
    assert elsewhere == [], "use pytest's private API through session/pytest_private.py"
    assert [use.split(": ", 1)[1] for use in private_uses(HOME)] == [
        "import _pytest.runner",
        "item.session._setupstate",
    ]
