"""The pytest entry point: options, wiring and the default fanout; stays thin.

Inactive (only its options and marker are registered) unless
``--dome-run-id`` is given. The collecting side lives in ``collector.py``,
the deciding side in ``controller.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import hookspecs
from .collector import DomeCollector
from .config import (
    DEFAULT_RUNTIME_DIR,
    ConfigError,
    Options,
    Settings,
    check_run_id,
    parse_count,
    parse_shard,
    parse_threshold,
    parse_timeout,
    read_pyproject_table,
    resolve,
)
from .controller import DomeController, XdistHooks
from .evidence import (
    STARTED,
    EvidenceError,
    acquire_lock,
    atomic_write,
    prepare_run_dir,
    release_lock,
    render,
)
from .models import Packet, RunStarted, Shard
from .run import utc_now

controller_key = pytest.StashKey[DomeController]()
PLUGIN_NAMES = ("dome-controller", "dome-collector", "dome-xdist")


def _usage(convert: Any) -> Any:
    """Wrap a parser ``type=`` so a bad value gives pytest's one-line usage error."""

    def parse(value: str) -> Any:
        try:
            return convert(value)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None

    parse.__name__ = convert.__name__
    return parse


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dome", "release gate (pytest-dome)")
    add = group.addoption
    add(
        "--dome-run-id",
        metavar="ID",
        type=_usage(check_run_id),
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
        f"([tool.dome] runtime_dir; default {DEFAULT_RUNTIME_DIR.as_posix()} under the rootdir).",
    )
    add(
        "--dome-policy",
        metavar="FILE",
        help="Risk policy JSON file ([tool.dome] policy; default: the built-in policy).",
    )
    add(
        "--dome-risk-threshold",
        metavar="SCORE",
        type=_usage(parse_threshold),
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
        type=_usage(parse_timeout),
        help="Seconds each verify command may run ([tool.dome] verify_timeout; default 600).",
    )
    add(
        "--dome-max-workers",
        metavar="N",
        type=_usage(lambda v: parse_count(v, "--dome-max-workers", 256)),
        help="xdist workers when no -n/--tx/--dist is given ([tool.dome] "
        "work.queue.max_workers; default 2; 0 runs serially).",
    )
    add(
        "--dome-max-retries",
        metavar="N",
        type=_usage(lambda v: parse_count(v, "--dome-max-retries", 10)),
        help="Retries of a failed task ([tool.dome] work.queue.max_retries; default 1).",
    )
    add(
        "--dome-shard",
        metavar="K/N",
        type=_usage(parse_shard),
        help="Run only shard K of N of the plan and write a partial run for `dome merge`.",
    )
    add(
        "--dome-replace",
        action="store_true",
        default=False,
        help="Replace the evidence of an existing run with the same run id (said so in the "
        "report; without it an existing run is refused).",
    )


# --- default fanout: `work.queue.max_workers` becomes `-n` -----------------------

_XDIST_FLAGS = ("-n", "--numprocesses", "--tx", "--dist", "-d")


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


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Prepend ``-n <max_workers>`` to a gated run: not when the user chose (-n, --tx,
    --dist), not without xdist (or with -p no:xdist), not under --pdb.

    An xdist worker gets only the positional arguments (its options come from the
    controller and overwrite ours), so a worker never fans out again.
    """
    if not _given(args, ("--dome-run-id",)):
        return
    if not early_config.pluginmanager.has_plugin("xdist") or _given(args, _XDIST_FLAGS):
        return
    if _given(args, ("--pdb", "--trace", "--collect-only", "--co")):
        return
    try:
        table = read_pyproject_table(early_config.rootpath)
    except ConfigError:
        return  # reported in pytest_configure, with the run's other settings
    workers = default_workers(args, table)
    if workers > 0:
        args[:0] = ["-n", str(workers)]


# --- wiring ---------------------------------------------------------------------


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dome_task(id=None, critical=False, risk_weight=0): declare this test's pytest-dome "
        "task id, whether it is critical (must pass cleanly) and its risk weight (0..100).",
    )
    run_id = config.getoption("dome_run_id")
    if not run_id or config.option.collectonly:
        return
    if is_worker(config):
        given = config.workerinput.get("dome")  # type: ignore[attr-defined]
        if given is not None:
            packet = Packet.model_validate(given["packet"]) if given["packet"] else None
            shard = Shard(index=given["shard"][0], count=given["shard"][1]) if given["shard"] else None
            worker_side = DomeCollector(
                config,
                packet,
                given["max_retries"],
                shard,
                [(k, p) for k, p in given["redact_patterns"]],
                given["redact_reports"],
            )
            config.pluginmanager.register(worker_side, "dome-collector")
        return
    options = Options(
        run_id=run_id,
        out=config.getoption("dome_out"),
        policy=config.getoption("dome_policy"),
        risk_threshold=config.getoption("dome_risk_threshold"),
        fail_on=config.getoption("dome_fail_on"),
        verify=config.getoption("dome_verify"),
        verify_timeout=config.getoption("dome_verify_timeout"),
        replace=config.getoption("dome_replace"),
        packet=config.getoption("dome_packet"),
        base_ref=config.getoption("dome_base_ref"),
        max_retries=config.getoption("dome_max_retries"),
        max_workers=config.getoption("dome_max_workers"),
        shard=config.getoption("dome_shard"),
    )
    try:
        settings = resolve(options, config.rootpath, config.invocation_params.dir)
        check_combinations(config, settings)
        lock, replaced, started_at = start_run(settings)
    except (ConfigError, EvidenceError) as exc:
        raise pytest.UsageError(str(exc)) from None
    # xdist's own rule: it distributes only with a --dist mode and --tx entries.
    distributed = (
        config.pluginmanager.hasplugin("xdist")
        and config.getoption("dist", "no") != "no"
        and bool(config.getoption("tx", None))
    )
    collector: DomeCollector | None = None
    if not distributed:
        collector = DomeCollector(
            config,
            settings.packet,
            settings.max_retries,
            settings.shard,
            settings.redact_patterns,
            settings.redact_reports,
        )
        config.pluginmanager.register(collector, "dome-collector")
    controller = DomeController(config, settings, replaced, collector, lock, started_at)
    config.stash[controller_key] = controller
    config.pluginmanager.register(controller, "dome-controller")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(controller), "dome-xdist")


def check_combinations(config: pytest.Config, settings: Settings) -> None:
    """Options that would make a gated run's evidence lie."""
    if config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") == "each":
        raise ConfigError(
            "--dist each runs every test on every worker, but a gated run needs one result per "
            "task; use -n N (--dist load) instead"
        )
    if settings.packet is not None and (config.option.keyword or config.option.markexpr):
        raise ConfigError(
            f"packet {settings.packet_source} declares the run's tasks; -k/-m would leave some "
            "without a result: select tests in the packet instead"
        )


def start_run(settings: Settings) -> tuple[Path, Path | None, str]:
    """Take the run id's lock, make the run folder ready and write the started record."""
    lock = acquire_lock(settings.run_dir)
    try:
        replaced = prepare_run_dir(
            settings.run_dir, settings.display_path(settings.run_dir), settings.replace
        )
        started_at = utc_now()
        record = RunStarted(run_id=settings.run_id, started_at=started_at, replaced=replaced is not None)
        atomic_write(settings.run_dir / STARTED, render(record))
    except OSError as exc:
        release_lock(lock)
        if isinstance(exc, EvidenceError):
            raise
        raise EvidenceError(
            f"cannot start run {settings.run_id!r} in {settings.display_path(settings.run_dir)}: "
            f"{exc.strerror or exc}"
        ) from None
    return lock, replaced, started_at


def pytest_unconfigure(config: pytest.Config) -> None:
    controller = config.stash.get(controller_key, None)
    if controller is not None:
        try:
            controller.finish_without_session()
        finally:
            controller.close()
        del config.stash[controller_key]
    for name in PLUGIN_NAMES:
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """A non-final attempt of a retried task is shown as R (rerun), never as a failure."""
    if str(report.outcome) == "rerun" and hasattr(report, "dome_attempt"):
        return "rerun", "R", ("RERUN", {"yellow": True})
    return None
