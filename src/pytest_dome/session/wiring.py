"""Wiring of a gated run into pytest: imported only when ``--dome-run-id`` is given,
so that an installed but inactive plugin costs nothing beyond its options."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .runner import TaskRunner

if TYPE_CHECKING:
    from ..config.settings import Settings

# The controller side (pydantic, the schemas) is imported by the process that
# decides only: an xdist worker plans and runs tests with what it needs for that.
controller_key = pytest.StashKey[Any]()
PLUGIN_NAMES = (
    "dome-controller",
    "dome-intake",
    "dome-watch",
    "dome-review",
    "dome-xdist",
    "dome-runner",
    "dome-flaky",
    "dome-gc-pause",
)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def configure(config: pytest.Config, run_id: str) -> None:
    if is_worker(config):
        given = config.workerinput.get("dome")  # type: ignore[attr-defined]
        if given is not None:
            packet = None
            if given["packet"]:
                from ..contracts.models import Packet

                packet = Packet.model_validate(given["packet"])
            shard = (given["shard"][0], given["shard"][1]) if given["shard"] else None
            worker_runner = TaskRunner(
                config,
                packet,
                given["max_retries"],
                shard,
                [(k, p) for k, p in given["redact_patterns"]],
                given["redact_reports"],
            )
            config.pluginmanager.register(worker_runner, "dome-runner")
        return
    from ..config.inifile import read_ini
    from ..config.options import ConfigError, Options
    from ..config.settings import resolve
    from ..runfolder.speedups import ExitCollectionPause
    from ..runfolder.writer import EvidenceError
    from .controller import DomeController
    from .facts import XdistHooks
    from .intake import guard_cache, guard_terminal
    from .terminal import PLUGIN_NAME, GateReporter

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
        baseline=config.getoption("dome_baseline"),
        quarantine=config.getoption("dome_quarantine"),
        history=config.getoption("dome_history"),
    )
    try:
        settings = resolve(options, config.rootpath, config.invocation_params.dir, read_ini(config))
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
    runner: TaskRunner | None = None
    if not distributed:
        runner = TaskRunner(
            config,
            settings.packet,
            settings.max_retries,
            (settings.shard.index, settings.shard.count) if settings.shard else None,
            settings.redact_patterns,
            settings.redact_reports,
        )
        config.pluginmanager.register(runner, "dome-runner")
    controller = DomeController(config, settings, replaced, runner, lock, started_at)
    guard_cache(config, settings)
    guard_terminal(config, controller.intake)
    config.stash[controller_key] = controller
    register = config.pluginmanager.register
    register(controller, "dome-controller")
    register(controller.intake, "dome-intake")
    register(controller.watch, "dome-watch")
    register(GateReporter(controller), PLUGIN_NAME)
    register(ExitCollectionPause(config), "dome-gc-pause")
    if config.pluginmanager.hasplugin("xdist"):
        register(XdistHooks(settings, controller.watch), "dome-xdist")


def check_combinations(config: pytest.Config, settings: Settings) -> None:
    """Options that would make a gated run's evidence lie."""
    from ..config.options import ConfigError

    if config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") == "each":
        raise ConfigError(
            "--dist each runs every test on every worker, but a gated run needs one result per "
            "task; use -n N (--dist load) instead"
        )
    if not config.option.pyargs:  # pytest finds this only when it collects, and an xdist
        # controller never collects: its workers fail unseen, and a run would be recorded
        for arg in config.args:
            if not (config.invocation_params.dir / arg.split("::", 1)[0]).exists():
                raise ConfigError(f"file or directory not found: {arg}")
    if settings.packet is not None and (config.option.keyword or config.option.markexpr):
        raise ConfigError(
            f"packet {settings.packet_source} declares the run's tasks; -k/-m would leave some "
            "without a result: select tests in the packet instead"
        )


def start_run(settings: Settings) -> tuple[Path, Path | None, str]:
    """Take the run id's lock, make the run folder ready and write the started record."""
    from ..contracts.models import RunStarted
    from ..runfolder.layout import STARTED
    from ..runfolder.lifecycle import acquire_lock, prepare_run_dir, release_lock
    from ..runfolder.record import utc_now
    from ..runfolder.writer import EvidenceError, atomic_write, render

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


def unconfigure(config: pytest.Config) -> None:
    controller = config.stash.get(controller_key, None)
    if controller is not None:
        try:
            if controller.finish_without_session():
                from .terminal import show_late

                show_late(config)
        finally:
            controller.close()
        del config.stash[controller_key]
    for name in PLUGIN_NAMES:
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)
