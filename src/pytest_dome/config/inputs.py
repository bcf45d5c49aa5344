"""The files a gated run reads before it starts: the ``[tool.dome]`` table, the risk
policy and the packet, each checked against its schema and read into its model.

A file that cannot be used raises :class:`~.options.ConfigError` with one line
that names it, says what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .options import ConfigError

if TYPE_CHECKING:
    from ..contracts.models import Packet, RiskPolicy

# The models (pydantic) and the schemas are imported by the functions that need
# them: the plugin reads the [tool.dome] table before pytest configures (for the
# default fanout), and that must stay cheap.

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def read_pyproject_table(rootdir: Path) -> dict[str, Any]:
    """The ``[tool.dome]`` table of ``rootdir/pyproject.toml``, schema-checked."""
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path.name}: cannot read it ({exc}); fix the TOML") from None
    table = data.get("tool", {}).get("dome", {})
    check_table(table, "pyproject.toml [tool.dome]")
    return dict(table)


def check_table(table: dict[str, Any], where: str) -> None:
    """Check a ``[tool.dome]`` table (or what pytest's ini keys make of one) against
    ``ssot/schemas/dome.config.schema.json``."""
    from ..contracts import ssot

    problems = ssot.schema_errors("dome.config", table)
    if problems:
        raise ConfigError(f"{where} {problems[0]} (see docs/configuration.md)")
    for key in ("risk_threshold", "verify_timeout"):
        if key in table and not math.isfinite(table[key]):
            raise ConfigError(f"{where} {key}: {table[key]!r} is not a number")


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file, or say in one line why it cannot be: what no reader of
    pytest-dome takes (``safejson``: NaN, Infinity, deep nesting, a FIFO...) included."""
    from ..runfolder.safejson import Refused, limit_of, parse, read_file

    try:
        data = read_file(path, limit_of("input"))
    except FileNotFoundError:
        raise ConfigError(f"{what} does not exist; fix the path") from None
    except (OSError, Refused) as exc:
        raise ConfigError(f"{what} cannot be read: {exc}") from None
    try:
        return parse(data)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix the file"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{what} is not valid JSON ({exc}); fix the file") from None


def load_policy(path: Path | None, shown_as: str) -> RiskPolicy:
    """The built-in policy, or the policy file at ``path`` over the built-in weights."""
    from ..contracts import ssot
    from ..contracts.models import RiskPolicy

    base = ssot.default_policy_document()
    if path is None:
        return RiskPolicy.model_validate(base)
    doc = read_json(path, f"risk policy {shown_as}")
    problems = ssot.schema_errors("risk.policy", doc)
    if problems:
        raise ConfigError(
            f"risk policy {shown_as} does not match ssot/schemas/risk.policy.schema.json: {problems[0]}"
        )
    doc["factors"] = {**base["factors"], **doc["factors"]}
    doc["change_set"] = {**base["change_set"], **doc.get("change_set", {})}
    doc["baseline"] = {**base["baseline"], **doc.get("baseline", {})}
    doc["quarantine"] = {**base["quarantine"], **doc.get("quarantine", {})}
    return RiskPolicy.model_validate(doc)


def inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` resolved, or None when it escapes ``root`` (links included)."""
    root = root.resolve()
    target = (root / relative).resolve()
    return target if target == root or root in target.parents else None


def load_packet(path: Path, shown_as: str, rootdir: Path) -> tuple[Packet, Any]:
    """Read and check a packet: schema, unique task ids, paths inside the rootdir."""
    from ..contracts import ssot
    from ..contracts.models import Packet

    what = f"packet {shown_as}"
    doc = read_json(path, what)
    problems = ssot.schema_errors("packet", doc)
    if problems:
        problems = _task_problems(doc) or problems
        raise ConfigError(f"{what} does not match ssot/schemas/packet.schema.json: {problems[0]}")
    packet = Packet.model_validate(doc)
    seen: set[str] = set()
    for task in packet.tasks:
        if task.id.lower() in seen:
            raise ConfigError(f"{what}: task id {task.id!r} is used twice; give each task its own id")
        seen.add(task.id.lower())
        if task.kind == "command":
            cwd = inside(rootdir, task.cwd or ".")
            if cwd is None:
                raise ConfigError(
                    f"{what}: task {task.id!r} cwd {task.cwd!r} is outside the rootdir; "
                    "use a folder inside the project"
                )
            if not cwd.is_dir():
                raise ConfigError(f"{what}: task {task.id!r} cwd {task.cwd!r} is not a folder")
        elif task.select is not None:
            for rel in task.select.paths or ():
                target = inside(rootdir, rel)
                if target is None:
                    raise ConfigError(f"{what}: task {task.id!r} path {rel!r} is outside the rootdir")
                if not target.exists():
                    raise ConfigError(f"{what}: task {task.id!r} selects path {rel!r}, which does not exist")
    return packet, doc


def _task_problems(doc: Any) -> list[str]:
    """The problems of each packet task against the schema of its own kind (clearer than
    the 'oneOf' of all kinds)."""
    from ..contracts import ssot

    tasks = doc.get("tasks") if isinstance(doc, dict) else None
    problems = []
    for i, task in enumerate(tasks if isinstance(tasks, list) else []):
        kind = task.get("kind") if isinstance(task, dict) else None
        if kind in ("tests", "command"):
            problems += [f"tasks/{i}/{p}" for p in ssot.subschema_errors("packet", f"{kind}_task", task)]
    return problems
