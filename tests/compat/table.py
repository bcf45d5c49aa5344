"""The table of docs/compatibility.md, read by the compatibility suite.

Each case of the suite names its row (plugin and case) with
``@pytest.mark.compat(plugin, case)`` and takes the decision it asserts from
the row's "serial" and "default fanout" cells, so the table cannot say one
thing while the suite checks another. A cell starts with the decision
(APPROVE, NEEDS_HUMAN, REJECT), or "no decision", or "n/a" (the mode is not
run); the reason codes it names in backticks are the task codes the gate
must carry, no more and no less.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
HEADER = ["plugin", "tested version", "case", "serial", "default fanout", "what to know"]
STATUSES = ("APPROVE", "NEEDS_HUMAN", "REJECT")
# The reason codes a cell must list exactly: the ones about tasks and the session.
TASK_CODE = re.compile(r"^(TASK_|WORKER_|SESSION_)")
CODE = re.compile(r"`([A-Z][A-Z0-9_]+)`")
# Rows and extra entries that are not a plugin with a version of its own to check.
NOT_A_PLUGIN = frozenset({"(all of the above)", "django"})


@dataclass(frozen=True)
class Expect:
    """What one cell says a gated run of the case gives."""

    status: str | None  # None: no decision at all ("no decision")
    codes: frozenset[str]

    @classmethod
    def parse(cls, cell: str) -> Expect | None:
        """None for "n/a" (the case is not run in this mode)."""
        if cell.startswith("n/a"):
            return None
        codes = frozenset(CODE.findall(cell))
        if cell.startswith("no decision"):
            return cls(None, codes)
        status = cell.split()[0].strip(",.;:")
        assert status in STATUSES, f"{DOC.name}: a cell must start with a decision: {cell!r}"
        return cls(status, codes)


@dataclass(frozen=True)
class Row:
    plugin: str
    version: str
    case: str
    serial: Expect | None
    fanout: Expect | None

    def expect(self, how: str) -> Expect | None:
        return {"serial": self.serial, "fanout": self.fanout}[how]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def read_table(text: str | None = None) -> dict[tuple[str, str], Row]:
    """The rows of the first table whose header is HEADER, by (plugin, case)."""
    lines = (DOC.read_text() if text is None else text).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and _cells(line) == HEADER)
    rows: dict[tuple[str, str], Row] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        plugin, version, case, serial, fanout, _ = _cells(line)
        key = (plugin, case.strip("`"))
        assert key not in rows, f"{DOC.name}: two rows for {key}"
        rows[key] = Row(plugin, version, key[1], Expect.parse(serial), Expect.parse(fanout))
    return rows
