"""Where the history store is: its URL, resolved and shown without a password.

Pure text (no driver, no file system): the settings resolve the session's URL
with :func:`resolve`, the ``dome history`` commands with the same function, and
every message shows a URL through :func:`shown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFAULT_FILE = ".dome-history.sqlite"
"""The default store, a SQLite file in the runtime folder: a dotfile, as dome's
other files there (locks, replaced runs), which every reader of the runtime folder
skips (``dome slo``, ``dome replay --all``, run ids); so are its ``-wal`` and
``-shm`` files."""
ENV = "DOME_HISTORY_URL"
OFF = "off"

_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*):[^@\s]*@")
_POSTGRES = ("postgresql://", "postgres://")


class HistoryUrlError(ValueError):
    """A history URL that is not one: the message says how to write one."""


@dataclass(frozen=True)
class StoreUrl:
    """A store's address: a SQLite file, or a PostgreSQL connection string."""

    kind: Literal["sqlite", "postgresql"]
    target: str
    """The SQLite file's absolute path, or the PostgreSQL URL as given."""

    @property
    def shown(self) -> str:
        """The URL as messages show it: no password."""
        return shown(self.url)

    @property
    def url(self) -> str:
        return self.target if self.kind == "postgresql" else f"sqlite:///{self.target.lstrip('/')}"


def shown(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _CREDENTIALS.sub(lambda m: f"{m['head']}:***@", text)


def parse(value: str, base: Path, where: str) -> StoreUrl | None:
    """A history value as a store (None: ``off``). ``base``: the folder a relative
    SQLite path is taken from. ``where`` names the value's source in a message."""
    text = value.strip()
    if text.lower() == OFF:
        return None
    if text.startswith(_POSTGRES):
        return StoreUrl("postgresql", text)
    if text.startswith("sqlite:"):
        path = text.removeprefix("sqlite:")
        if path.startswith("///"):
            path = "/" + path[3:].lstrip("/")
        elif path.startswith("//"):
            raise HistoryUrlError(
                f"{where}: {shown(text)!r}: write a SQLite file as sqlite:///ABSOLUTE/PATH or "
                "sqlite:RELATIVE/PATH"
            )
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise HistoryUrlError(
            f"{where}: {shown(text)!r}: unknown scheme {scheme!r}; give postgresql://..., "
            "sqlite:PATH, a file path, or off"
        )
    else:
        path = text
    if not path:
        raise HistoryUrlError(f"{where}: {shown(text)!r} names no file; give a path, a URL or off")
    return StoreUrl("sqlite", str((base / path).resolve()))


def resolve(
    option: str | None,
    environ_value: str | None,
    table_value: str | None,
    *,
    invocation_dir: Path,
    rootdir: Path,
    runtime_dir: Path,
    table_where: str = "[tool.dome] history",
    option_where: str = "--dome-history",
) -> StoreUrl | None:
    """The store a run records to: the option, else the environment variable, else
    the table's ``history``, else the SQLite file in the runtime folder; None: off.
    Relative paths: from the invocation folder (option, environment), the rootdir
    (the table)."""
    if option is not None:
        return parse(option, invocation_dir, option_where)
    if environ_value:
        return parse(environ_value, invocation_dir, ENV)
    if table_value is not None:
        return parse(table_value, rootdir, table_where)
    return StoreUrl("sqlite", str(runtime_dir / DEFAULT_FILE))
