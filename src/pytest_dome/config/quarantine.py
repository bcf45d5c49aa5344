"""The quarantine file a gated run reads at its start (docs/quarantine.md).

A TOML file committed with the project (``dome-quarantine.toml`` by default), so
that each entry carries a comment and each change is a reviewed diff. It is
checked here against ``ssot/schemas/quarantine.schema.json`` and more: each
``expires`` a real day, each pattern once, and no entry expiring more than the
policy's ``quarantine.max_days`` after today (the day the run starts, UTC): a
quarantine is bounded. An entry already expired is not bad input: the gate says
so (``QUARANTINE_EXPIRED``) and the entry shields nothing. Every problem is one
:class:`~.options.ConfigError` line that names the file and the entry.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .options import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from ..contracts.models import QuarantineFile, RiskPolicy

DEFAULT_FILE = "dome-quarantine.toml"
"""The quarantine file used, when it exists at the rootdir, without an option or key."""


def _dates_as_strings(value: Any, what: str) -> Any:
    """A TOML document as JSON would have it: a TOML date (``expires = 2027-01-31``)
    becomes its ISO string; a date with a time, or a time, is refused."""
    if isinstance(value, dict):
        return {k: _dates_as_strings(v, what) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_strings(v, what) for v in value]
    if isinstance(value, (dt.datetime, dt.time)):
        raise ConfigError(f"{what}: {value.isoformat()} is not a day; write a date as YYYY-MM-DD")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def read_quarantine(path: Path, shown_as: str) -> QuarantineFile:
    """The quarantine file at ``path``, read and checked (not its horizon, which needs
    the policy: :func:`check_horizon`)."""
    from ..contracts import ssot
    from ..contracts.models import QuarantineFile

    what = f"quarantine file {shown_as}"
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{what} does not exist; fix the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} cannot be read ({exc}); fix the file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} is not valid TOML ({exc}); fix the file") from None
    doc = _dates_as_strings(raw, what)
    problems = ssot.schema_errors("quarantine", doc)
    if problems:
        raise ConfigError(f"{what} does not match ssot/schemas/quarantine.schema.json: {problems[0]}")
    seen: set[str] = set()
    for i, entry in enumerate(doc["entries"]):
        where = f"{what} entries/{i} ({entry['pattern']!r})"
        try:
            dt.date.fromisoformat(entry["expires"])
        except ValueError:
            raise ConfigError(f"{where}: expires {entry['expires']!r} is not a day of the calendar") from None
        if entry["pattern"] in seen:
            raise ConfigError(f"{where}: the pattern is listed twice; keep one entry for it")
        seen.add(entry["pattern"])
    return QuarantineFile.model_validate(doc)


def check_horizon(quarantine: QuarantineFile, policy: RiskPolicy, today: dt.date, shown_as: str) -> None:
    """No entry may expire more than the policy's ``quarantine.max_days`` after ``today``."""
    from ..contracts.models import QuarantinePolicy

    max_days = (policy.quarantine or QuarantinePolicy()).max_days
    latest = (today + dt.timedelta(days=max_days)).isoformat()
    for i, entry in enumerate(quarantine.entries):
        if entry.expires > latest:
            raise ConfigError(
                f"quarantine file {shown_as} entries/{i} ({entry.pattern!r}): expires {entry.expires} "
                f"is more than {max_days} days from today ({today.isoformat()}); a quarantine is "
                f"bounded: choose a day up to {latest} and renew it then (policy quarantine.max_days)"
            )


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()
