"""Check that the manual documents every reason code, [tool.dome] key, option,
`dome` subcommand and artifact schema; write the result to ops/runtime/m01/.

Run with `just docs-check`. Exit status 1 when something is undocumented.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_dome.cli.main import build_parser
from pytest_dome.contracts import ssot

ROOT = Path(__file__).resolve().parent.parent


def config_keys(schema: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for name, sub in schema.get("properties", {}).items():
        keys.append(prefix + name)
        if sub.get("type") == "object":
            keys += config_keys(sub, prefix + name + ".")
    return keys


def options() -> list[str]:
    text = (ROOT / "src/pytest_dome/plugin.py").read_text()
    return sorted(set(re.findall(r'"(--dome-[a-z-]+)"', text)))


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def main() -> int:
    docs = "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    docs += (ROOT / "README.md").read_text()
    wanted = {
        "reason codes": sorted(ssot.reason_catalog()),
        "[tool.dome] keys": [
            k.rsplit(".", 1)[-1] for k in config_keys(ssot.schemas()["dome.config.schema.json"])
        ],
        "options": options(),
        "dome subcommands": [f"dome {c}" for c in subcommands()],
        "schemas": sorted(ssot.schemas()),
    }
    missing = {kind: [w for w in items if w not in docs] for kind, items in wanted.items()}
    missing = {k: v for k, v in missing.items() if v}
    report = {
        "kind": "docs.check",
        "checked_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ok": not missing,
        "checked": {k: len(v) for k, v in wanted.items()},
        "missing": missing,
    }
    out = ROOT / "ops/runtime/m01/docs-check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    for kind, items in missing.items():
        print(f"docs-check: undocumented {kind}: {', '.join(items)}", file=sys.stderr)
    if not missing:
        print("docs ok: " + ", ".join(f"{n} {k}" for k, n in report["checked"].items()))
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
