"""The effective configuration of a gated run: options over ``[tool.dome]`` over the policy.

Pure of pytest: every problem raises :class:`ConfigError` with one line that
says what is wrong and how to fix it; the plugin turns it into a
``pytest.UsageError`` and the ``dome`` command into an exit status.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from . import ssot
from .models import GATE_STATUSES, GateStatus, RiskPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
DEFAULT_RUNTIME_DIR = Path("ops") / "runtime" / "runs"
DEFAULT_VERIFY_TIMEOUT = 600.0


class ConfigError(ValueError):
    """A bad option, pyproject table or policy: the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Everything a gated run needs to know before it starts."""

    run_id: str
    rootdir: Path
    runtime_dir: Path
    policy: RiskPolicy
    policy_source: str
    threshold: float
    threshold_source: Literal["policy", "pyproject", "option"]
    fail_on: tuple[GateStatus, ...]
    verify: tuple[tuple[str, ...], ...]
    verify_timeout: float
    replace: bool = False

    @property
    def run_dir(self) -> Path:
        return self.runtime_dir / self.run_id

    def display_path(self, path: Path) -> str:
        """``path`` relative to the rootdir when inside it (no machine paths in evidence)."""
        try:
            return path.relative_to(self.rootdir).as_posix()
        except ValueError:
            return path.as_posix()


@dataclass(frozen=True)
class Options:
    """The command-line values, as given (None when not given)."""

    run_id: str
    out: str | None = None
    policy: str | None = None
    risk_threshold: float | None = None
    fail_on: Sequence[str] | None = None
    verify: Sequence[str] = ()
    verify_timeout: float | None = None
    replace: bool = False


def check_run_id(value: str) -> str:
    if not RUN_ID_RE.fullmatch(value) or ".." in value:
        raise ConfigError(
            f"invalid run id {value!r}: use 1 to 128 characters from A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit, without '..' (e.g. --dome-run-id=rc-2026-11-24.1)"
        )
    return value


def parse_threshold(value: str | float, where: str = "--dome-risk-threshold") -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: {value!r} is not a number; give a score from 0 to 100"
        ) from None
    if not 0 <= number <= 100:
        raise ConfigError(f"{where}: {value!r} is outside 0..100; give a score from 0 to 100")
    return number


def parse_fail_on(values: Iterable[str], where: str = "--dome-fail-on") -> tuple[GateStatus, ...]:
    statuses: set[GateStatus] = {"REJECT"}
    for raw in values:
        for item in (s.strip() for s in raw.split(",")):
            if item not in ("NEEDS_HUMAN", "REJECT"):
                raise ConfigError(
                    f"{where}: unknown status {item!r}; use NEEDS_HUMAN and/or REJECT"
                )
            statuses.add("NEEDS_HUMAN" if item == "NEEDS_HUMAN" else "REJECT")
    return tuple(s for s in GATE_STATUSES if s in statuses)


def parse_verify(command: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(command))
    except ValueError as exc:
        raise ConfigError(f"--dome-verify {command!r}: {exc}; quote it as a shell would") from None
    if not argv:
        raise ConfigError("--dome-verify: empty command; give a program and its arguments")
    return argv


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
    problems = ssot.schema_errors("dome.config", table)
    if problems:
        raise ConfigError(f"pyproject.toml [tool.dome] {problems[0]} (see docs/configuration.md)")
    return dict(table)


def load_policy(path: Path | None, shown_as: str) -> RiskPolicy:
    """The built-in policy, or the policy file at ``path`` over the built-in weights."""
    base = ssot.default_policy_document()
    if path is None:
        return RiskPolicy.model_validate(base)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"risk policy {shown_as} does not exist; fix the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"risk policy {shown_as} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"risk policy {shown_as} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); fix the file"
        ) from None
    problems = ssot.schema_errors("risk.policy", doc)
    if problems:
        raise ConfigError(
            f"risk policy {shown_as} does not match ssot/schemas/risk.policy.schema.json: "
            f"{problems[0]}"
        )
    doc["factors"] = {**base["factors"], **doc["factors"]}
    return RiskPolicy.model_validate(doc)


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
    """Merge options over ``[tool.dome]`` over the policy, checking everything."""
    run_id = check_run_id(options.run_id)
    table = read_pyproject_table(rootdir)

    if options.out is not None:
        runtime_dir = (invocation_dir / options.out).resolve()
    else:
        runtime_dir = (rootdir / table.get("runtime_dir", DEFAULT_RUNTIME_DIR)).resolve()

    if options.policy is not None:
        policy = load_policy(invocation_dir / options.policy, options.policy)
        policy_source = options.policy
    elif "policy" in table:
        policy = load_policy(rootdir / table["policy"], table["policy"])
        policy_source = table["policy"]
    else:
        policy, policy_source = load_policy(None, "builtin"), "builtin"

    threshold_source: Literal["policy", "pyproject", "option"]
    if options.risk_threshold is not None:
        threshold, threshold_source = options.risk_threshold, "option"
    elif "risk_threshold" in table:
        threshold, threshold_source = float(table["risk_threshold"]), "pyproject"
    else:
        threshold, threshold_source = policy.threshold, "policy"

    fail_on = parse_fail_on(
        options.fail_on if options.fail_on is not None else table.get("fail_on", ()),
        "--dome-fail-on" if options.fail_on is not None else "[tool.dome] fail_on",
    )

    verify = [(tuple(argv), "[tool.dome] verify") for argv in table.get("verify", ())]
    verify += [(parse_verify(cmd), "--dome-verify") for cmd in options.verify]
    for argv, where in verify:
        check_verify_command(argv, rootdir, where)

    timeout = options.verify_timeout or float(table.get("verify_timeout", DEFAULT_VERIFY_TIMEOUT))
    settings = Settings(
        run_id=run_id,
        rootdir=rootdir,
        runtime_dir=runtime_dir,
        policy=policy,
        policy_source=policy_source,
        threshold=threshold,
        threshold_source=threshold_source,
        fail_on=fail_on,
        verify=tuple(argv for argv, _ in verify),
        verify_timeout=timeout,
        replace=options.replace,
    )
    check_runtime_dir(runtime_dir, settings.display_path(runtime_dir))
    return settings
