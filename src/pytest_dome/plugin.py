"""The pytest entry point: options, wiring and the default fanout; stays thin.

Inactive (only its options and marker are registered) unless
``--dome-run-id`` is given. The side that plans and runs the tasks lives in ``runner.py``,
the deciding side in ``controller.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Generator
from typing import Any

import pytest

from . import hookspecs
from .config.inikeys import DEFAULT_RUNTIME_DIR, INI_KEYS


def _usage(name: str, *args: Any) -> Any:
    """A parser ``type=`` calling ``options.<name>(value, *args)`` (imported only when an
    option is given), so a bad value gives pytest's one-line usage error."""

    def parse(value: str) -> Any:
        from .config import options

        try:
            return getattr(options, name)(value, *args)
        except options.ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None

    parse.__name__ = name
    return parse


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dome", "release gate (pytest-dome)")
    for name, kind, key, text in INI_KEYS:
        parser.addini(name, f"pytest-dome: {text} (as [tool.dome] {'.'.join(key)}).", kind, None)
    add = group.addoption
    add(
        "--dome-run-id",
        metavar="ID",
        type=_usage("check_run_id"),
        help="Gate this session as run ID ([A-Za-z0-9][A-Za-z0-9._-]{0,127}); "
        "without it the plugin does nothing.",
    )
    add(
        "--dome-packet",
        metavar="PATH",
        help="The input contract (packet JSON), as one token ([tool.dome] packet).",
    )
    add(
        "--dome-base-ref",
        metavar="REF",
        help="Git ref the change set is computed against ([tool.dome] base_ref; "
        "the packet's base_ref wins over the pyproject's).",
    )
    add(
        "--dome-out",
        metavar="DIR",
        help="Runtime folder for run evidence, relative to the current folder "
        f"([tool.dome] runtime_dir; default {DEFAULT_RUNTIME_DIR} under the rootdir).",
    )
    add(
        "--dome-policy",
        metavar="FILE",
        help="Risk policy JSON file ([tool.dome] policy; default: the built-in policy).",
    )
    add(
        "--dome-risk-threshold",
        metavar="SCORE",
        type=_usage("parse_threshold"),
        help="Risk threshold 0..100: NEEDS_HUMAN when the score is not below it "
        "(wins over the packet, [tool.dome] risk_threshold and the policy).",
    )
    add(
        "--dome-fail-on",
        metavar="STATUSES",
        action="append",
        help="Comma-separated gate statuses that fail the session; REJECT always does "
        "([tool.dome] fail_on). Example: --dome-fail-on=NEEDS_HUMAN.",
    )
    add(
        "--dome-verify",
        metavar="COMMAND",
        action="append",
        default=[],
        help="A deterministic verify command, split like a shell would (never run through "
        "one); repeatable, added to the packet's or [tool.dome] verify.",
    )
    add(
        "--dome-verify-timeout",
        metavar="SECONDS",
        type=_usage("parse_timeout"),
        help="Seconds each verify command may run ([tool.dome] verify_timeout; default 600).",
    )
    add(
        "--dome-max-workers",
        metavar="N",
        type=_usage("parse_count", "--dome-max-workers", 256),
        help="xdist workers when no -n/--tx (nor --dist no) is given ([tool.dome] "
        "work.queue.max_workers; default 2; 0 runs serially).",
    )
    add(
        "--dome-max-retries",
        metavar="N",
        type=_usage("parse_count", "--dome-max-retries", 10),
        help="Retries of a failed task ([tool.dome] work.queue.max_retries; default 1).",
    )
    add(
        "--dome-shard",
        metavar="K/N",
        type=_usage("parse_shard"),
        help="Run only shard K of N of the plan and write a partial run for `dome merge`.",
    )
    add(
        "--dome-baseline",
        metavar="RUN",
        help="Compare with this earlier run (a run folder, or a run id in the runtime folder): "
        "new failures, removed tasks, slower tasks; recorded and scored (see docs/baseline.md).",
    )
    add(
        "--dome-quarantine",
        metavar="FILE",
        help="Quarantine TOML file: tests whose failure does not reject until their entry "
        "expires ([tool.dome] quarantine; default: dome-quarantine.toml when it exists; "
        "see docs/quarantine.md).",
    )
    add(
        "--dome-history",
        metavar="URL",
        help="Record the run in this history store: a SQLite file, postgresql://..., or off "
        "(wins over DOME_HISTORY_URL and [tool.dome] history; default: a SQLite file in the "
        "runtime folder; see docs/history.md).",
    )
    add(
        "--dome-replace",
        action="store_true",
        default=False,
        help="Replace the evidence of an existing run with the same run id (said so in the "
        "report; without it an existing run is refused).",
    )


# --- default fanout: `work.queue.max_workers` becomes `-n` -----------------------

_XDIST_FLAGS = ("-n", "--numprocesses", "--tx")
"""The user chose the workers: no fanout. A scheduling mode alone (``--dist
loadscope``, ``-d``) keeps the fanout; ``--dist no`` asks for none."""


def _given(args: list[str], flags: tuple[str, ...]) -> bool:
    for arg in args:
        if arg == "--":
            return False
        for flag in flags:
            if (
                arg == flag
                or arg.startswith(flag + "=")
                or (len(flag) == 2 and arg.startswith(flag) and not arg.startswith("--"))
            ):
                return True
    return False


def _dist(args: list[str]) -> str | None:
    """The last ``--dist`` mode given (``-d`` is ``load``), or None."""
    mode = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "-d":
            mode = "load"
        elif arg.startswith("--dist="):
            mode = arg.split("=", 1)[1]
        elif arg == "--dist" and i + 1 < len(args):
            mode = args[i + 1]
    return mode


def default_workers(args: list[str], table: dict[str, Any]) -> int:
    """How many workers the default fanout asks for (0: none)."""
    for arg in reversed(args):
        if arg.startswith("--dome-max-workers="):
            return int(arg.split("=", 1)[1]) if arg.split("=", 1)[1].isdigit() else 0
    if "--dome-max-workers" in args:
        i = len(args) - 1 - args[::-1].index("--dome-max-workers")
        value = args[i + 1] if i + 1 < len(args) else ""
        return int(value) if value.isdigit() else 0
    queue = table.get("work", {}).get("queue", {})
    return int(queue.get("max_workers", 2))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """Prepend ``-n <max_workers>`` to a gated run: not when the user chose the
    workers (-n, --tx) or none (--dist no), not without xdist (or with -p no:xdist),
    not under --pdb.

    A wrapper, so that the fanout is decided before any plugin's implementation of
    this hook reads the arguments (pytest-cov picks its distributed mode in its own,
    which is ``tryfirst`` too). An xdist worker gets only the positional arguments
    (its options come from the controller and overwrite ours), so a worker never
    fans out again.
    """
    workers = _fanout(early_config, args)
    if workers > 0:
        args[:0] = ["-n", str(workers)]
        # pytest parsed the known arguments before this hook, and plugins read that
        # parse here: parse again, so every plugin sees the fanout as if typed.
        parsed = parser.parse_known_args(args, namespace=copy.copy(early_config.option))
        parsed.confcutdir = early_config.known_args_namespace.confcutdir  # pytest sets it after its parse
        early_config.known_args_namespace = parsed
    return (yield)


def _fanout(early_config: pytest.Config, args: list[str]) -> int:
    """The workers the default fanout adds to ``args`` (0: none)."""
    if not _given(args, ("--dome-run-id",)):
        return 0
    if not early_config.pluginmanager.has_plugin("xdist") or _given(args, _XDIST_FLAGS):
        return 0
    if _dist(args) == "no":
        return 0
    if _given(args, ("--pdb", "--trace", "--collect-only", "--co")):
        return 0
    from .config.inifile import file_table, read_ini
    from .config.inputs import read_pyproject_table
    from .config.options import ConfigError

    try:
        table, _ = file_table(read_pyproject_table(early_config.rootpath), read_ini(early_config))
    except ConfigError:
        return 0  # reported in pytest_configure, with the run's other settings
    return default_workers(args, table)


# --- wiring ---------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dome_task(id=None, critical=False, risk_weight=0): declare this test's pytest-dome "
        "task id, whether it is critical (must pass cleanly) and its risk weight (0..100).",
    )
    run_id = config.getoption("dome_run_id")
    if not run_id or config.option.collectonly:
        return
    from .session.wiring import configure

    configure(config, run_id)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.getoption("dome_run_id", None):
        from .session.wiring import unconfigure

        unconfigure(config)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """An attempt that is retried (by dome, or logged so for flaky) is shown as R
    (rerun), never as a failure; as pytest-rerunfailures shows its own."""
    if str(report.outcome) == "rerun":
        return "rerun", "R", ("RERUN", {"yellow": True})
    return None
