"""docs/compatibility.md is held to the suite: every row has a case (which
asserts the row's decisions), every case has a row, every plugin of the
``compat`` extra has a row, and the versions it names are honest.

Versions: the table names the version each row was last checked on. CI
installs the newest release of each plugin (the extra only has floors), so
a test that wanted exactly the documented version would fail the day a
plugin releases. Instead: the documented version may not be newer than the
one installed (the table would claim a run that did not happen) nor older
than the extra's floor (the extra would exclude it). The last line of every
compat run lists the versions it really ran on (``compat: ...``)."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from .table import DOC, NOT_A_PLUGIN, read_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).parent
PYPROJECT = HERE.parents[1] / "pyproject.toml"


def _cases() -> set[tuple[str, str]]:
    """The rows the cases name, read from their source (``pytest.mark.compat(plugin, case)``)."""
    keys = set()
    for path in HERE.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "compat"
                and len(node.args) == 2
            ):
                keys.add(tuple(ast.literal_eval(arg) for arg in node.args))
    return keys


def _extra() -> dict[str, Requirement]:
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["compat"]
    return {Requirement(line).name: Requirement(line) for line in extra}


def test_every_row_has_a_case_and_every_case_a_row():
    assert _cases() == set(read_table())


def test_every_plugin_of_the_extra_has_a_row():
    plugins = {row.plugin for row in read_table().values()}
    for name in _extra():
        assert name in plugins or name in NOT_A_PLUGIN, f"{DOC.name}: no row for {name}"


def test_the_documented_versions_are_honest():
    extra = _extra()
    rows = read_table().values()
    for row in rows:
        if row.plugin in NOT_A_PLUGIN:
            continue
        same_plugin = {r.version for r in rows if r.plugin == row.plugin}
        assert same_plugin == {row.version}, f"{DOC.name}: {row.plugin} has versions {same_plugin}"
        documented, installed = Version(row.version), Version(version(row.plugin))
        claim = f"{DOC.name} says {row.plugin} {documented} was tested; {installed} is installed"
        assert documented <= installed, claim
        if row.plugin in extra:
            floor = extra[row.plugin]
            assert floor.specifier.contains(documented), f"the compat extra ({floor}) excludes {documented}"
