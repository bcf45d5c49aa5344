"""The effective configuration of a gated run: options over ``[tool.dome]`` over the policy.

Pure of pytest: every problem raises :class:`~.options.ConfigError` with one line
that says what is wrong and how to fix it; the plugin turns it into a
``pytest.UsageError`` and the ``dome`` command into an exit status.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .inifile import IniValues, file_table
from .inikeys import DEFAULT_RUNTIME_DIR
from .inputs import inside, load_packet, load_policy, read_pyproject_table
from .options import ConfigError, Options, check_run_id, parse_fail_on, parse_verify

if TYPE_CHECKING:
    from ..contracts.models import GateStatus, Packet, QuarantineFile, RiskPolicy, Shard
    from ..core.comparison import RecordedBaseline
    from ..history.url import StoreUrl

DEFAULT_VERIFY_TIMEOUT = 600.0
DEFAULT_MAX_WORKERS = 2
DEFAULT_MAX_RETRIES = 1
ThresholdSource = Literal["policy", "pyproject", "ini", "override_ini", "packet", "option"]


@dataclass(frozen=True)
class Settings:
    """Everything a gated run needs to know before it starts."""

    run_id: str
    rootdir: Path
    runtime_dir: Path
    policy: RiskPolicy
    """The effective policy: file, then [tool.dome], packet and option overrides."""
    policy_source: str
    threshold_source: ThresholdSource
    fail_on: tuple[GateStatus, ...]
    verify: tuple[tuple[str, ...], ...]
    verify_timeout: float
    replace: bool = False
    packet: Packet | None = None
    packet_document: Any = None
    """The packet exactly as read (what input_digest covers)."""
    packet_source: str | None = None
    base_ref: str | None = None
    max_workers: int = DEFAULT_MAX_WORKERS
    max_retries: int = DEFAULT_MAX_RETRIES
    shard: Shard | None = None
    redact_reports: bool = True
    baseline: RecordedBaseline | None = None
    """The summary of the ``--dome-baseline`` run, read once here."""
    quarantine: QuarantineFile | None = None
    """The quarantine file (docs/quarantine.md), checked, its horizon too."""
    quarantine_source: str | None = None
    history: StoreUrl | None = None
    """The run history store (None: off); see :func:`history_url`."""

    @property
    def threshold(self) -> float:
        return self.policy.threshold

    @property
    def redact_patterns(self) -> list[tuple[str, str]]:
        return [(p.kind, p.pattern) for p in self.policy.redact_patterns]

    @property
    def run_dir(self) -> Path:
        return self.runtime_dir / self.run_id

    def display_path(self, path: Path) -> str:
        """``path`` relative to the rootdir when inside it (no machine paths in evidence)."""
        try:
            return path.relative_to(self.rootdir).as_posix()
        except ValueError:
            return path.as_posix()


def apply_overrides(policy: RiskPolicy, packet: Packet | None) -> RiskPolicy:
    """The policy with the packet's overrides (threshold, factor weights, change set)."""
    if packet is None or packet.policy is None:
        return policy
    over = packet.policy
    update: dict[str, Any] = {}
    if over.threshold is not None:
        update["threshold"] = over.threshold
    if over.factors:
        update["factors"] = {**policy.factors, **over.factors}
    if over.change_set is not None:
        update["change_set"] = policy.change_set.model_copy(
            update=over.change_set.model_dump(exclude_unset=True)
        )
    if over.redact_patterns is not None:
        update["redact_patterns"] = policy.redact_patterns + over.redact_patterns
    return policy.model_copy(update=update)


def check_verify_command(argv: Sequence[str], rootdir: Path, where: str) -> None:
    program = argv[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        candidate = rootdir / program
        found = candidate.is_file() and os.access(candidate, os.X_OK)
    else:
        found = shutil.which(program) is not None
    if not found:
        raise ConfigError(
            f"verify command {shlex.join(argv)!r} ({where}): program {program!r} not found "
            "or not executable; install it or fix the command"
        )


def check_redact_patterns(policy: RiskPolicy) -> None:
    for item in policy.redact_patterns:
        try:
            re.compile(item.pattern)
        except re.error as exc:
            raise ConfigError(
                f"redact pattern {item.kind!r} {item.pattern!r} is not a regular expression ({exc}); "
                "fix it in the policy"
            ) from None


def check_runtime_dir(runtime_dir: Path, shown_as: str) -> None:
    """Create ``runtime_dir`` if needed and prove it can be written."""
    from ..runfolder.lifecycle import probe_writable

    try:
        probe_writable(runtime_dir)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"runtime dir {shown_as} cannot be written ({reason}); "
            "choose a writable folder with --dome-out or [tool.dome] runtime_dir"
        ) from None


@dataclass(frozen=True)
class Layers:
    """Where a run's values come from, highest first: the command-line options, then
    the file table (``[tool.dome]``, or pytest's ``dome_*`` ini keys; ``-o`` wins in
    either). The packet and the policy (:class:`Loaded`) come below them."""

    options: Options
    table: dict[str, Any]
    from_ini: dict[str, str]
    """``[tool.dome]`` key (dotted) -> where in pytest's configuration it was set."""
    overridden: frozenset[str]
    """The ini keys given with ``-o`` on the command line."""
    rootdir: Path
    invocation_dir: Path

    def where(self, key: str) -> str:
        """How a message names the table's ``key``."""
        return self.from_ini.get(key, f"[tool.dome] {key}")


@dataclass(frozen=True)
class Loaded:
    """The files the layers name: the packet and the policy, as read and checked."""

    packet: Packet | None
    packet_document: Any
    packet_source: str | None
    policy: RiskPolicy
    policy_source: str
    quarantine: QuarantineFile | None = None
    quarantine_source: str | None = None


Sourced = list[tuple[tuple[str, ...], str]]
"""Verify commands, each with where it was given (for the probe's messages)."""


def resolve(options: Options, rootdir: Path, invocation_dir: Path, ini: IniValues | None = None) -> Settings:
    """Merge options over the packet over ``[tool.dome]`` (or pytest's ini keys) over the
    policy, checking everything: load the files they name, choose each value by
    precedence, read the baseline run, then probe what the settings need."""
    run_id = check_run_id(options.run_id)
    table, from_ini = file_table(read_pyproject_table(rootdir), ini)
    overridden = ini.overridden if ini is not None else frozenset()
    layers = Layers(options, table, from_ini, overridden, rootdir, invocation_dir)
    settings, verify = choose(run_id, layers, load(layers))
    baseline = _baseline(options.baseline, settings, invocation_dir)
    settings = dataclasses.replace(settings, baseline=baseline)
    probe(settings, verify)
    return settings


def load(layers: Layers) -> Loaded:
    """Loading: the packet and the policy that an option (a path from the invocation
    folder) or the table (from the rootdir) names; the built-in policy when none does."""
    options, table, rootdir = layers.options, layers.table, layers.rootdir
    packet = packet_doc = packet_source = None
    if options.packet is not None:
        packet_source = options.packet
        packet, packet_doc = load_packet(layers.invocation_dir / options.packet, options.packet, rootdir)
    elif "packet" in table:
        packet_source = table["packet"]
        packet, packet_doc = load_packet(rootdir / table["packet"], table["packet"], rootdir)

    if options.policy is not None:
        policy = load_policy(layers.invocation_dir / options.policy, options.policy)
        policy_source = options.policy
    elif "policy" in table:
        policy = load_policy(rootdir / table["policy"], table["policy"])
        policy_source = table["policy"]
    else:
        policy, policy_source = load_policy(None, "builtin"), "builtin"
    quarantine, quarantine_source = _quarantine(layers)
    return Loaded(packet, packet_doc, packet_source, policy, policy_source, quarantine, quarantine_source)


def _quarantine(layers: Layers) -> tuple[QuarantineFile | None, str | None]:
    """The quarantine file the option (from the invocation folder) or the table (from
    the rootdir) names, else ``dome-quarantine.toml`` at the rootdir if it exists."""
    from .quarantine import DEFAULT_FILE, read_quarantine

    options, table, rootdir = layers.options, layers.table, layers.rootdir
    if options.quarantine is not None:
        path, shown = layers.invocation_dir / options.quarantine, options.quarantine
    elif "quarantine" in table:
        path, shown = rootdir / table["quarantine"], table["quarantine"]
    elif (rootdir / DEFAULT_FILE).is_file():
        path, shown = rootdir / DEFAULT_FILE, DEFAULT_FILE
    else:
        return None, None
    return read_quarantine(path, shown), shown


def choose(run_id: str, layers: Layers, loaded: Loaded) -> tuple[Settings, Sourced]:
    """Precedence: each value from the highest layer that gives it (option, packet,
    table, policy, default); the verify commands with where each was given. Reads
    no file and probes nothing; the baseline is read after (it needs the runtime dir)."""
    options, table, packet = layers.options, layers.table, loaded.packet
    fail_on = parse_fail_on(
        options.fail_on if options.fail_on is not None else table.get("fail_on", ()),
        "--dome-fail-on" if options.fail_on is not None else layers.where("fail_on"),
    )
    if packet is not None and packet.verify is not None:
        verify = [(tuple(argv), f"packet {loaded.packet_source}") for argv in packet.verify]
    else:
        verify = [(tuple(argv), layers.where("verify")) for argv in table.get("verify", ())]
    verify += [(parse_verify(cmd), "--dome-verify") for cmd in options.verify]
    policy, threshold_source = _policy(layers, loaded)
    queue = table.get("work", {}).get("queue", {})
    settings = Settings(
        run_id=run_id,
        rootdir=layers.rootdir,
        runtime_dir=_runtime_dir(layers),
        policy=policy,
        policy_source=loaded.policy_source,
        threshold_source=threshold_source,
        fail_on=fail_on,
        verify=tuple(argv for argv, _ in verify),
        verify_timeout=options.verify_timeout or float(table.get("verify_timeout", DEFAULT_VERIFY_TIMEOUT)),
        replace=options.replace,
        packet=packet,
        packet_document=loaded.packet_document,
        packet_source=loaded.packet_source,
        base_ref=options.base_ref or (packet and packet.base_ref) or table.get("base_ref"),
        max_workers=options.max_workers
        if options.max_workers is not None
        else int(queue.get("max_workers", DEFAULT_MAX_WORKERS)),
        max_retries=options.max_retries
        if options.max_retries is not None
        else int(queue.get("max_retries", DEFAULT_MAX_RETRIES)),
        shard=options.shard,
        redact_reports=bool(table.get("redact_reports", True)),
        quarantine=loaded.quarantine,
        quarantine_source=loaded.quarantine_source,
    )
    settings = dataclasses.replace(settings, history=history_url(layers, settings.runtime_dir))
    return settings, verify


def history_url(layers: Layers, runtime_dir: Path) -> StoreUrl | None:
    """The history store: ``--dome-history``, else ``DOME_HISTORY_URL``, else the
    table's ``history``, else ``.dome-history.sqlite`` in the runtime folder; None: off."""
    from ..history.url import ENV, HistoryUrlError, resolve

    try:
        return resolve(
            layers.options.history,
            os.environ.get(ENV),
            layers.table.get("history"),
            invocation_dir=layers.invocation_dir,
            rootdir=layers.rootdir,
            runtime_dir=runtime_dir,
            table_where=layers.where("history"),
        )
    except HistoryUrlError as exc:
        raise ConfigError(str(exc)) from None


def _runtime_dir(layers: Layers) -> Path:
    """``--dome-out`` (from the invocation folder), else the table's ``runtime_dir`` or
    the default (from the rootdir), which must not leave the project unless allowed."""
    options, table, rootdir = layers.options, layers.table, layers.rootdir
    if options.out is not None:
        return (layers.invocation_dir / options.out).resolve()
    configured = Path(table.get("runtime_dir", DEFAULT_RUNTIME_DIR))
    escapes = inside(rootdir, str(configured)) is None
    if escapes and not configured.is_absolute() and not table.get("allow_external_runtime_dir"):
        raise ConfigError(
            f"runtime dir {configured.as_posix()} resolves outside the project (through '..' "
            "or a symbolic link); use a folder inside it, set "
            f"{'dome_' if 'runtime_dir' in layers.from_ini else '[tool.dome] '}"
            "allow_external_runtime_dir = true, or give --dome-out"
        )
    return (rootdir / configured).resolve()


def _policy(layers: Layers, loaded: Loaded) -> tuple[RiskPolicy, ThresholdSource]:
    """The effective policy (the table's threshold, then the packet's overrides, then
    the option's threshold) and which of them set its threshold."""
    policy, table, packet = loaded.policy, layers.table, loaded.packet
    threshold_source: ThresholdSource = "policy"
    if "risk_threshold" in table:
        policy = policy.model_copy(update={"threshold": float(table["risk_threshold"])})
        if "dome_risk_threshold" in layers.overridden:
            threshold_source = "override_ini"  # -o on the command line, not a committed file
        else:
            threshold_source = "ini" if "risk_threshold" in layers.from_ini else "pyproject"
    policy = apply_overrides(policy, packet)
    if packet is not None and packet.policy is not None and packet.policy.threshold is not None:
        threshold_source = "packet"
    if layers.options.risk_threshold is not None:
        policy = policy.model_copy(update={"threshold": layers.options.risk_threshold})
        threshold_source = "option"
    return policy, threshold_source


def probe(settings: Settings, verify: Sourced) -> None:
    """Probing: what the chosen settings need to work here: each verify command's
    program found, each quarantine entry within the horizon of today, each redact
    pattern a regular expression, and the runtime dir there and writable."""
    for argv, where in verify:
        check_verify_command(argv, settings.rootdir, where)
    if settings.quarantine is not None:
        from .quarantine import check_horizon, utc_today

        check_horizon(settings.quarantine, settings.policy, utc_today(), settings.quarantine_source or "")
    check_redact_patterns(settings.policy)
    check_runtime_dir(settings.runtime_dir, settings.display_path(settings.runtime_dir))


def _baseline(source: str | None, settings: Settings, invocation_dir: Path) -> RecordedBaseline | None:
    """The ``--dome-baseline`` run's summary (imported only when one is given): a run
    folder or run id, or ``last-approved[:BRANCH]`` from the history store."""
    if source is None:
        return None
    from ..history.lastapproved import NoBaseline, parse, read_last_approved

    try:
        wanted, branch = parse(source)
        if wanted:
            from ..core.comparison import RecordedBaseline
            from ..history.records import run_start

            # the branch a session records: its CI's variables, else the checkout's HEAD
            branch = branch or run_start("", "", None, settings.rootdir).branch
            return RecordedBaseline.of(read_last_approved(source, settings.history, branch))
    except NoBaseline as exc:
        raise ConfigError(str(exc)) from None
    from ..runfolder.baseline import BaselineError, read_baseline

    try:
        return read_baseline(source, settings.runtime_dir, invocation_dir)
    except BaselineError as exc:
        raise ConfigError(str(exc)) from None
