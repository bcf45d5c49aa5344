"""The command-line options of a gated run: their values as given, and the parsers
that check each one.

The parsers are the options' ``type=`` (through ``plugin._usage``) and check the
same values when they come from ``[tool.dome]``. Every problem raises
:class:`ConfigError` with one line that says what is wrong and how to fix it; the
plugin turns it into a ``pytest.UsageError`` and the ``dome`` command into an exit
status.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.taskid import is_safe_id

if TYPE_CHECKING:
    from ..contracts.models import GateStatus, Shard

# The models (pydantic) are imported by the parsers that need them: the parsers
# run in every xdist worker too, and must stay cheap.


class ConfigError(ValueError):
    """A bad option, pyproject table or policy: the message says how to fix it.

    Defined here, the first module to raise it; ``inputs``, ``inifile`` and
    ``settings`` raise it too."""


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
    packet: str | None = None
    base_ref: str | None = None
    max_retries: int | None = None
    max_workers: int | None = None
    shard: Shard | None = None
    baseline: str | None = None
    quarantine: str | None = None
    history: str | None = None


def check_run_id(value: str) -> str:
    if not is_safe_id(value):
        raise ConfigError(
            f"invalid run id {value!r}: use 1 to 128 characters from A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit, without '..' (e.g. --dome-run-id=rc-2026-11-24.1)"
        )
    return value


def _finite(value: str | float) -> float:
    """``value`` as a finite float, or NaN (never in range) when it is not one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def parse_threshold(value: str | float, where: str = "--dome-risk-threshold") -> float:
    number = _finite(value)
    if not 0 <= number <= 100:
        raise ConfigError(f"{where}: {value!r} is not a score from 0 to 100; give one")
    return number


def parse_timeout(value: str | float, where: str = "--dome-verify-timeout") -> float:
    number = _finite(value)
    if not number > 0:
        raise ConfigError(f"{where}: {value!r} is not a positive number of seconds")
    return number


def parse_count(value: str | int, where: str, maximum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number <= maximum:
        raise ConfigError(f"{where}: {value!r} is not a whole number from 0 to {maximum}")
    return number


def parse_shard(value: str) -> Shard:
    from ..contracts.models import Shard

    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ConfigError(f"--dome-shard: {value!r} is not K/N with 1 <= K <= N (e.g. --dome-shard=2/3)")
    return Shard(index=int(match[1]), count=int(match[2]))


def parse_fail_on(values: Iterable[str], where: str = "--dome-fail-on") -> tuple[GateStatus, ...]:
    from ..contracts.models import GATE_STATUSES

    statuses: set[GateStatus] = {"REJECT"}
    for raw in values:
        for item in (s.strip() for s in raw.split(",")):
            if item not in ("NEEDS_HUMAN", "REJECT"):
                raise ConfigError(f"{where}: unknown status {item!r}; use NEEDS_HUMAN and/or REJECT")
            statuses.add("NEEDS_HUMAN" if item == "NEEDS_HUMAN" else "REJECT")
    return tuple(s for s in GATE_STATUSES if s in statuses)


def parse_verify(command: str, where: str = "--dome-verify") -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(command))
    except ValueError as exc:
        raise ConfigError(f"{where} {command!r}: {exc}; quote it as a shell would") from None
    if not argv:
        raise ConfigError(f"{where}: empty command; give a program and its arguments")
    return argv
