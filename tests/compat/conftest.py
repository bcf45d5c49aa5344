"""The compatibility suite: real installs of popular plugins, each run with
pytest-dome serially and at the default fanout (see docs/compatibility.md).

It needs the ``compat`` extra, so it runs in its own virtual environment
(``just compat``); ``just test`` does not collect it (``norecursedirs``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points, version
from pathlib import Path

import pytest

from conftest import RunEvidence, load_run

from .table import NOT_A_PLUGIN, TASK_CODE, Row, read_table

TABLE = read_table()
MODES = ("serial", "fanout")
# The plugins pytest-dome runs with in any case (never disabled in a case).
CORE = {"pytest-dome", "pytest-xdist"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "compat(plugin, case): the row of docs/compatibility.md a compatibility case checks"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The versions this run tested (docs/compatibility.md names the ones it was written with)."""
    plugins = sorted({row.plugin for row in TABLE.values()} - NOT_A_PLUGIN | {"django"})
    terminalreporter.write_line("compat: " + ", ".join(f"{p} {version(p)}" for p in plugins))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``how``: each mode whose cell of the case's row is not "n/a"."""
    if "how" in metafunc.fixturenames:
        row = _row_of(metafunc.definition)
        metafunc.parametrize("how", [m for m in MODES if row.expect(m) is not None])


def _row_of(node: pytest.Item | pytest.Function | pytest.FunctionDefinition) -> Row:
    marker = node.get_closest_marker("compat")
    assert marker is not None, f"{node.nodeid}: a compatibility case names its row with @pytest.mark.compat"
    key = (marker.args[0], marker.args[1])
    assert key in TABLE, f"docs/compatibility.md has no row {key}"
    return TABLE[key]


@pytest.fixture
def row(request: pytest.FixtureRequest) -> Row:
    return _row_of(request.node)


@pytest.fixture(autouse=True)
def _serial_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The main suite makes inner runs serial (tests/conftest.py); here each
    case chooses its mode, the default fanout included. ``just compat`` runs
    this suite itself with plugin autoloading off (the plugins would change
    it); the scratch projects load them as a user's pytest does."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    # Nor is a scratch project an xdist worker of this suite's own -n 2
    # (pytest-benchmark, for one, disables itself on a worker).
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


def other_plugins(keep: Iterable[str]) -> list[str]:
    """``-p no:NAME`` for every installed pytest plugin but pytest-dome, xdist and ``keep``
    (distribution names; "*" keeps them all), so a case sees its plugin alone."""
    if "*" in keep:
        return []
    kept = CORE | set(keep)
    names = sorted({ep.name for ep in entry_points(group="pytest11") if ep.dist and ep.dist.name not in kept})
    return [arg for name in names for arg in ("-p", f"no:{name}")]


@dataclass
class Gated:
    """A gated run of a scratch project and what it left."""

    result: pytest.RunResult
    run_dir: Path
    how: str

    @property
    def out(self) -> str:
        return self.result.stdout.str()

    def evidence(self) -> RunEvidence:
        """The run's evidence, verified (``dome verify``) and checked against the schemas."""
        return load_run(self.run_dir)


def check_decision(run: Gated, row: Row, how: str | None = None) -> RunEvidence:
    """The run's evidence verifies, and its decision is the one the row's cell names."""
    expect = row.expect(how or run.how)
    assert expect is not None
    ev = run.evidence()
    assert ev.gate["status"] == expect.status, run.out
    codes = {c for c in ev.gate["reason_codes"] if TASK_CODE.match(c)}
    assert codes == set(expect.codes), (codes, run.out)
    # The manifest says how the tests really ran.
    assert ev.manifest["execution"]["mode"] == ("serial" if run.how == "serial" else "xdist")
    return ev


def attempts(ev: RunEvidence, node_id: str) -> list[tuple[str, str]]:
    """(outcome, when) of each recorded attempt of a test, numbered 1, 2, ..."""
    recorded = ev.tasks[node_id]["attempts"]
    assert [a["number"] for a in recorded] == list(range(1, len(recorded) + 1))
    return [(a["outcome"], a["when"]) for a in recorded]


@pytest.fixture
def gated(pytester: pytest.Pytester) -> Callable[..., Gated]:
    """Run pytest in a subprocess (plugins autoloaded as a user gets them) with
    ``--dome-run-id``; ``how`` is "serial" (``--dome-max-workers=0``, or nothing
    with ``fanout=False`` when the arguments already keep dome from fanning out)
    or "fanout" (no ``-n``: dome adds ``-n 2``, unless the arguments give one)."""
    counter = iter(range(1, 100))

    def run(how: str, *args: str, plugins: Iterable[str] = (), default_serial: bool = True) -> Gated:
        run_id = f"compat-{how}-{next(counter)}"
        mode = ["--dome-max-workers=0"] if how == "serial" and default_serial else []
        result = pytester.runpytest_subprocess(
            f"--dome-run-id={run_id}", *mode, *other_plugins(plugins), *args, timeout=300
        )
        return Gated(result, pytester.path / "ops/runtime/runs" / run_id, how)

    return run


FLAKY_STATE = '''
from pathlib import Path


def fails_first(name, times=1):
    """Fail the first ``times`` calls of ``name`` in this project, then pass."""
    counter = Path(__file__).parent / f".calls-{name}"
    calls = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(calls + 1))
    assert calls >= times, f"{name}: failing call {calls + 1} of {times}"
'''
"""A helper module (``state.py``) for tests that fail a given number of times."""
