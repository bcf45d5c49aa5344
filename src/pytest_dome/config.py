"""The effective configuration of a gated run: options over ``[tool.dome]`` over the policy.

Pure of pytest: every problem raises :class:`~.options.ConfigError` with one line
that says what is wrong and how to fix it; the plugin turns it into a
``pytest.UsageError`` and the ``dome`` command into an exit status.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .options import ConfigError, Options, check_run_id, parse_fail_on, parse_verify

if TYPE_CHECKING:
    from .models import GateStatus, Packet, RiskPolicy, Shard

# The models (pydantic) and the schemas are imported by the functions that need
# them: the plugin reads the [tool.dome] table before pytest configures (for the
# default fanout), and that must stay cheap.

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEFAULT_RUNTIME_DIR = Path("ops") / "runtime" / "runs"
DEFAULT_VERIFY_TIMEOUT = 600.0
DEFAULT_MAX_WORKERS = 2
DEFAULT_MAX_RETRIES = 1


@dataclass(frozen=True)
class Settings:
    """Everything a gated run needs to know before it starts."""

    run_id: str
    rootdir: Path
    runtime_dir: Path
    policy: RiskPolicy
    """The effective policy: file, then [tool.dome], packet and option overrides."""
    policy_source: str
    threshold_source: Literal["policy", "pyproject", "packet", "option"]
    fail_on: tuple[GateStatus, ...]
    verify: tuple[tuple[str, ...], ...]
    verify_timeout: float
    replace: bool = False
    packet: Packet | None = None
    packet_document: Any = None
    """The packet exactly as read (what input_digest covers)."""
    packet_source: str | None = None
    base_ref: str | None = None
    max_workers: int = DEFAULT_MAX_WORKERS
    max_retries: int = DEFAULT_MAX_RETRIES
    shard: Shard | None = None
    redact_reports: bool = True

    @property
    def threshold(self) -> float:
        return self.policy.threshold

    @property
    def redact_patterns(self) -> list[tuple[str, str]]:
        return [(p.kind, p.pattern) for p in self.policy.redact_patterns]

    @property
    def run_dir(self) -> Path:
        return self.runtime_dir / self.run_id

    def display_path(self, path: Path) -> str:
        """``path`` relative to the rootdir when inside it (no machine paths in evidence)."""
        try:
            return path.relative_to(self.rootdir).as_posix()
        except ValueError:
            return path.as_posix()


def read_pyproject_table(rootdir: Path) -> dict[str, Any]:
    """The ``[tool.dome]`` table of ``rootdir/pyproject.toml``, schema-checked."""
    from . import ssot

    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path.name}: cannot read it ({exc}); fix the TOML") from None
    table = data.get("tool", {}).get("dome", {})
    problems = ssot.schema_errors("dome.config", table)
    if problems:
        raise ConfigError(f"pyproject.toml [tool.dome] {problems[0]} (see docs/configuration.md)")
    for key in ("risk_threshold", "verify_timeout"):
        if key in table and not math.isfinite(table[key]):
            raise ConfigError(f"pyproject.toml [tool.dome] {key}: {table[key]!r} is not a number")
    return dict(table)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file, or say in one line why it cannot be (NaN and Infinity included)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constants)
    except FileNotFoundError:
        raise ConfigError(f"{what} does not exist; fix the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix the file"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{what} is not valid JSON ({exc}); fix the file") from None


def load_policy(path: Path | None, shown_as: str) -> RiskPolicy:
    """The built-in policy, or the policy file at ``path`` over the built-in weights."""
    from . import ssot
    from .models import RiskPolicy

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
    return RiskPolicy.model_validate(doc)


def inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` resolved, or None when it escapes ``root`` (links included)."""
    root = root.resolve()
    target = (root / relative).resolve()
    return target if target == root or root in target.parents else None


def load_packet(path: Path, shown_as: str, rootdir: Path) -> tuple[Packet, Any]:
    """Read and check a packet: schema, unique task ids, paths inside the rootdir."""
    from . import ssot
    from .models import Packet

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
    from . import ssot

    tasks = doc.get("tasks") if isinstance(doc, dict) else None
    problems = []
    for i, task in enumerate(tasks if isinstance(tasks, list) else []):
        kind = task.get("kind") if isinstance(task, dict) else None
        if kind in ("tests", "command"):
            problems += [f"tasks/{i}/{p}" for p in ssot.subschema_errors("packet", f"{kind}_task", task)]
    return problems


def apply_overrides(policy: RiskPolicy, packet: Packet | None) -> RiskPolicy:
    """The policy with the packet's overrides (threshold, factor weights, change set)."""
    if packet is None or packet.policy is None:
        return policy
    over = packet.policy
    update: dict[str, Any] = {}
    if over.threshold is not None:
        update["threshold"] = over.threshold
    if over.factors:
        update["factors"] = {**policy.factors, **over.factors}
    if over.change_set is not None:
        update["change_set"] = policy.change_set.model_copy(
            update=over.change_set.model_dump(exclude_unset=True)
        )
    if over.redact_patterns is not None:
        update["redact_patterns"] = policy.redact_patterns + over.redact_patterns
    return policy.model_copy(update=update)


def check_verify_command(argv: Sequence[str], rootdir: Path, where: str) -> None:
    program = argv[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        candidate = rootdir / program
        found = candidate.is_file() and os.access(candidate, os.X_OK)
    else:
        found = shutil.which(program) is not None
    if not found:
        raise ConfigError(
            f"verify command {shlex.join(argv)!r} ({where}): program {program!r} not found "
            "or not executable; install it or fix the command"
        )


def check_redact_patterns(policy: RiskPolicy) -> None:
    for item in policy.redact_patterns:
        try:
            re.compile(item.pattern)
        except re.error as exc:
            raise ConfigError(
                f"redact pattern {item.kind!r} {item.pattern!r} is not a regular expression ({exc}); "
                "fix it in the policy"
            ) from None


def check_runtime_dir(runtime_dir: Path, shown_as: str) -> None:
    """Create ``runtime_dir`` if needed and prove it can be written."""
    try:
        runtime_dir.mkdir(parents=True, exist_ok=True)
        probe = runtime_dir / f".dome-write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"runtime dir {shown_as} cannot be written ({reason}); "
            "choose a writable folder with --dome-out or [tool.dome] runtime_dir"
        ) from None


def resolve(options: Options, rootdir: Path, invocation_dir: Path) -> Settings:
    """Merge options over the packet over ``[tool.dome]`` over the policy, checking everything."""
    run_id = check_run_id(options.run_id)
    table = read_pyproject_table(rootdir)

    packet = packet_doc = packet_source = None
    if options.packet is not None:
        packet_source = options.packet
        packet, packet_doc = load_packet(invocation_dir / options.packet, options.packet, rootdir)
    elif "packet" in table:
        packet_source = table["packet"]
        packet, packet_doc = load_packet(rootdir / table["packet"], table["packet"], rootdir)

    if options.out is not None:
        runtime_dir = (invocation_dir / options.out).resolve()
    else:
        configured = Path(table.get("runtime_dir", DEFAULT_RUNTIME_DIR))
        runtime_dir = (rootdir / configured).resolve()
        escapes = inside(rootdir, str(configured)) is None
        if escapes and not configured.is_absolute() and not table.get("allow_external_runtime_dir"):
            raise ConfigError(
                f"runtime dir {configured.as_posix()} resolves outside the project (through '..' "
                "or a symbolic link); use a folder inside it, set [tool.dome] "
                "allow_external_runtime_dir = true, or give --dome-out"
            )

    if options.policy is not None:
        policy = load_policy(invocation_dir / options.policy, options.policy)
        policy_source = options.policy
    elif "policy" in table:
        policy = load_policy(rootdir / table["policy"], table["policy"])
        policy_source = table["policy"]
    else:
        policy, policy_source = load_policy(None, "builtin"), "builtin"

    threshold_source: Literal["policy", "pyproject", "packet", "option"] = "policy"
    if "risk_threshold" in table:
        policy = policy.model_copy(update={"threshold": float(table["risk_threshold"])})
        threshold_source = "pyproject"
    policy = apply_overrides(policy, packet)
    if packet is not None and packet.policy is not None and packet.policy.threshold is not None:
        threshold_source = "packet"
    if options.risk_threshold is not None:
        policy = policy.model_copy(update={"threshold": options.risk_threshold})
        threshold_source = "option"

    fail_on = parse_fail_on(
        options.fail_on if options.fail_on is not None else table.get("fail_on", ()),
        "--dome-fail-on" if options.fail_on is not None else "[tool.dome] fail_on",
    )

    if packet is not None and packet.verify is not None:
        verify = [(tuple(argv), f"packet {packet_source}") for argv in packet.verify]
    else:
        verify = [(tuple(argv), "[tool.dome] verify") for argv in table.get("verify", ())]
    verify += [(parse_verify(cmd), "--dome-verify") for cmd in options.verify]
    for argv, where in verify:
        check_verify_command(argv, rootdir, where)

    queue = table.get("work", {}).get("queue", {})
    settings = Settings(
        run_id=run_id,
        rootdir=rootdir,
        runtime_dir=runtime_dir,
        policy=policy,
        policy_source=policy_source,
        threshold_source=threshold_source,
        fail_on=fail_on,
        verify=tuple(argv for argv, _ in verify),
        verify_timeout=options.verify_timeout or float(table.get("verify_timeout", DEFAULT_VERIFY_TIMEOUT)),
        replace=options.replace,
        packet=packet,
        packet_document=packet_doc,
        packet_source=packet_source,
        base_ref=options.base_ref or (packet and packet.base_ref) or table.get("base_ref"),
        max_workers=options.max_workers
        if options.max_workers is not None
        else int(queue.get("max_workers", DEFAULT_MAX_WORKERS)),
        max_retries=options.max_retries
        if options.max_retries is not None
        else int(queue.get("max_retries", DEFAULT_MAX_RETRIES)),
        shard=options.shard,
        redact_reports=bool(table.get("redact_reports", True)),
    )
    check_redact_patterns(settings.policy)
    check_runtime_dir(runtime_dir, settings.display_path(runtime_dir))
    return settings
