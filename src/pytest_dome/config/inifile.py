"""The ``dome_*`` keys of pytest's own configuration file, read as a ``[tool.dome]`` table.

pytest reads one configuration file (``pytest.ini``, ``tox.ini``, ``setup.cfg``, ...);
its ``dome_<key>`` entries are the ``[tool.dome]`` keys (``inikeys.INI_KEYS`` names
them). A project keeps its gate settings in one place: ``[tool.dome]`` or that file,
never both (:func:`file_table`); ``-o dome_<key>=VALUE`` on the command line may be
added to either. Every value is checked by the parser its option uses, so a bad
value stops the run with one line that names the file and the key.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .inikeys import INI_KEYS
from .inputs import check_table
from .options import ConfigError, parse_count, parse_fail_on, parse_threshold, parse_timeout, parse_verify

if TYPE_CHECKING:
    import pytest

BOOLEANS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


@dataclass(frozen=True)
class IniValues:
    """The ``dome_*`` keys set in pytest's configuration, as pytest read them."""

    where: str
    """The file and its section, e.g. ``tox.ini [pytest]``."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Each key that is set: a string, or a list of strings (a ``linelist``)."""
    overridden: frozenset[str] = frozenset()
    """The keys given on the command line with ``-o`` (``--override-ini``)."""


def section(inipath: Path | None, rootdir: Path) -> str:
    """How a message names pytest's configuration file and its section."""
    if inipath is None:
        return "-o"
    try:
        shown = inipath.relative_to(rootdir).as_posix()
    except ValueError:
        shown = inipath.as_posix()
    if inipath.suffix == ".cfg":
        return f"{shown} [tool:pytest]"
    if inipath.name == "pyproject.toml":
        return f"{shown} [tool.pytest]"  # or [tool.pytest.ini_options]: the keys are the same
    return f"{shown} [pytest]"


def read_ini(config: pytest.Config) -> IniValues:
    """The ``dome_*`` keys of ``config``'s configuration file (and ``-o``)."""
    given = getattr(config.known_args_namespace, "override_ini", None) or ()
    overridden = frozenset(item.split("=", 1)[0].strip() for item in given)
    where = section(config.inipath, config.rootpath)
    values: dict[str, Any] = {}
    for name, *_ in INI_KEYS:
        try:
            value = config.getini(name)
        except (TypeError, ValueError) as exc:  # a TOML value of the wrong type
            reason = str(exc).removeprefix(f"{config.inipath}: ")
            raise ConfigError(f"{where} {name}: {reason}; write it as in an ini file (a string)") from None
        if value is not None:
            values[name] = value
    return IniValues(where, values, overridden)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {value!r} is not a non-empty string; give one")
    return value.strip()


def _lines(value: Any, where: str) -> list[str]:
    items = value.splitlines() if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{where}: {value!r} is not a list of lines; write one value per line")
    return [item.strip() for item in items if item.strip()]


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, str) and value.strip().lower() in BOOLEANS:
        return BOOLEANS[value.strip().lower()]
    raise ConfigError(f"{where}: {value!r} is not true or false")


def _convert(name: str, value: Any, where: str) -> Any:
    """One key's value as its ``[tool.dome]`` key holds it, or a one-line error."""
    if name == "dome_risk_threshold":
        return parse_threshold(_string(value, where), where)
    if name == "dome_verify_timeout":
        return parse_timeout(_string(value, where), where)
    if name == "dome_max_workers":
        return parse_count(_string(value, where), where, 256)
    if name == "dome_max_retries":
        return parse_count(_string(value, where), where, 10)
    if name == "dome_fail_on":
        words = [word for line in _lines(value, where) for word in line.replace(",", " ").split()]
        return list(parse_fail_on(words, where))  # REJECT is always added
    if name == "dome_verify":
        commands = [parse_verify(line, where) for line in _lines(value, where)]
        for argv in commands:
            if "" in argv:
                raise ConfigError(f"{where}: {shlex.join(argv)!r} has an empty argument; remove it")
        return [list(argv) for argv in commands]
    if name in ("dome_redact_reports", "dome_allow_external_runtime_dir"):
        return _bool(value, where)
    return _string(value, where)


def _where(ini: IniValues, name: str) -> str:
    return f"-o {name}" if name in ini.overridden else f"{ini.where} {name}"


def ini_table(ini: IniValues) -> dict[str, Any]:
    """The ``[tool.dome]`` table that ``ini``'s keys make (empty when none is set)."""
    table: dict[str, Any] = {}
    for name, _, key, _ in INI_KEYS:
        if name in ini.values:
            node = table
            for part in key[:-1]:
                node = node.setdefault(part, {})
            node[key[-1]] = _convert(name, ini.values[name], _where(ini, name))
    check_table(table, ini.where)
    return table


def file_table(pyproject: dict[str, Any], ini: IniValues | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The table the run is configured by, and where each key that came from ``ini``
    was set (``[tool.dome]`` key, dotted, to e.g. ``tox.ini [pytest] dome_verify``).

    ``[tool.dome]`` and ``dome_*`` keys in pytest's configuration file together are
    an error; keys given with ``-o`` are added to either, and win.
    """
    if ini is None or not ini.values:
        return pyproject, {}
    in_file = sorted(name for name in ini.values if name not in ini.overridden)
    if pyproject and in_file:
        raise ConfigError(
            f"pytest-dome settings are in both pyproject.toml [tool.dome] and {ini.where} "
            f"({', '.join(in_file)}); keep them in one of the two"
        )
    from_ini = ini_table(ini)
    merged = {**pyproject, **from_ini}
    queue = {**pyproject.get("work", {}).get("queue", {}), **from_ini.get("work", {}).get("queue", {})}
    if queue:
        merged["work"] = {"queue": queue}
    return merged, {".".join(key): _where(ini, name) for name, _, key, _ in INI_KEYS if name in ini.values}
