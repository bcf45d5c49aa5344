"""pydantic models of the quarantine: the committed file (recorded as
``inputs/quarantine.json``), the policy's ``quarantine`` settings and the gate
decision's ``checks.quarantine``. Re-exported by ``models``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .modelbase import SCHEMA_VERSION, Model

DEFAULT_MAX_DAYS = 90
"""How far ahead an entry may expire, in days after the run's start day (the
policy's ``quarantine.max_days`` by default)."""


class QuarantinePolicy(Model):
    """How the quarantine is bounded (the policy's ``quarantine``)."""

    max_days: int = Field(default=DEFAULT_MAX_DAYS, ge=1, le=366)


class QuarantineEntry(Model):
    pattern: str = Field(min_length=1, max_length=1024)
    owner: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    tracking: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000)
    expires: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
    """The last UTC day the entry shields its tests (ISO date: compared as a string)."""


class QuarantineFile(Model):
    schema_version: Literal["1.0.0"] = SCHEMA_VERSION
    kind: Literal["quarantine"] = "quarantine"
    entries: tuple[QuarantineEntry, ...]


class QuarantineCheck(Model):
    """What the gate made of the quarantine file (``checks.quarantine``)."""

    quarantine_digest: str
    as_of: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
    entries: int = Field(ge=0)
    quarantined: int = Field(ge=0)
    failures: tuple[str, ...]
    expired: tuple[str, ...]
    unmatched: tuple[str, ...]
