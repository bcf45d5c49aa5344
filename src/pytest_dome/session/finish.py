"""The finish of a gated session, as a plain function: from what the session saw
to the written run. No pytest: the controller gathers the inputs, this decides
what each planned task's result is, runs the verify commands and writes the run
(``record.write_run``, shared with ``dome merge``).

It streams: a task's outcome is read from the aggregator without building its
result, and only the results not written while the session ran are built, one
at a time as they are written, so the finish of a 60,000-task run holds one
small entry per task, not a record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config.settings import Settings
from ..contracts.models import (
    ChangeSet,
    EffectiveConfig,
    Execution,
    PluginFactor,
    QuarantineFile,
    SessionFacts,
    SessionRecord,
    TaskOutcome,
    VerifyResults,
)
from ..core.aggregate import Aggregator, TaskResult
from ..core.decision import DecisionInputs, missing_result
from ..core.plan import Plan, PlannedTask, in_shard, input_digest
from ..core.quarantine import as_of_day, file_digest
from ..core.redact import Redactor
from ..core.verdict import named
from ..runfolder.record import RunOutcome, write_run
from .commands import not_run, run_command

if TYPE_CHECKING:
    from ..history.store import TaskRow

PluginFactors = Callable[[tuple[TaskResult, ...]], tuple[PluginFactor, ...]]


@dataclass(frozen=True)
class SessionEnd:
    """What the session hands to its finish."""

    settings: Settings
    tasks: Sequence[PlannedTask]
    """The plan's tasks, sorted by task id."""
    change_set: ChangeSet
    redactor: Redactor
    aggregator: Aggregator
    written: dict[str, bytes]
    """Task results written while the session ran (``writer.TaskResultFiles``)."""
    facts: SessionFacts
    run_verify: bool
    """False when the user interrupted: the verify commands are recorded as not run."""
    plugin_factors: PluginFactors | None
    """The plugins' risk factors of the results (None: no plugin implements the hook)."""
    rewrite: frozenset[str]
    """Node ids whose results changed after they may have been written (``intake``)."""
    started_at: str
    execution: Execution
    effective_config: EffectiveConfig
    exit_status: int
    redactions: dict[str, int]


def write_session_run(end: SessionEnd, fallback: bool = False) -> RunOutcome:
    """Decide and write the run. ``fallback``: the first attempt failed (a bug, a
    plugin's hook): decide from the plan and the session facts alone, every task
    'missing', no verify command run, so the run still ends with a decision."""
    s, agg = end.settings, end.aggregator
    packet_document = end.redactor.redact_value(s.packet_document)  # as it is written
    quarantine = None
    if s.quarantine is not None:  # redacted as the plan's node ids are, which it matches
        shown = end.redactor.redact_value(s.quarantine.model_dump(mode="json"))
        quarantine = QuarantineFile.model_validate(shown)
    plan = Plan(
        packet_id=s.packet.packet_id if s.packet else None,
        input_digest=input_digest(
            packet_document,
            end.change_set,
            s.policy,
            end.tasks,
            s.baseline and s.baseline.digest,
            file_digest(quarantine) if quarantine else None,
        ),
        tasks=tuple(end.tasks),
    )
    shard = s.shard
    mine = [t for t in plan.tasks if in_shard(t.task_id, shard.index, shard.count)] if shard else plan.tasks
    changed = end.rewrite | set(agg.close_open())
    outcomes: dict[str, tuple[TaskOutcome, bool]] = {}
    shared: dict[tuple[TaskOutcome, bool], tuple[TaskOutcome, bool]] = {}  # one tuple per pair
    if not fallback:
        for task in mine:
            verdict = agg.verdict(task.node_id)
            if verdict is not None:
                outcomes[task.task_id] = shared.setdefault(verdict, verdict)
    written = end.written  # in a fallback too: write_run removes what the plan has not

    def result(task: PlannedTask) -> TaskResult:
        if task.task_id in outcomes:
            return agg.result(task.node_id, task.task_id)
        return missing_result(task)

    def to_write() -> Iterator[TaskResult]:
        for task in mine:
            if fallback or task.task_id not in written or task.node_id in changed:
                yield result(task)

    shown = tuple(result(t) for t in mine if named(*outcomes.get(t.task_id, ("missing", False))))
    factors: tuple[PluginFactor, ...] = ()
    if end.plugin_factors is not None and not fallback:
        factors = end.plugin_factors(tuple(result(t) for t in mine if t.task_id in outcomes))
    first_shard = shard is None or shard.index == 1
    commands = tuple(
        run_command(argv, s.rootdir, s.verify_timeout, end.redactor)
        if end.run_verify and not fallback
        else not_run(argv, end.redactor)
        for argv in (s.verify if first_shard else ())
    )
    inputs = DecisionInputs(
        run_id=s.run_id,
        plan=plan,
        change_set=end.change_set,
        packet_document=packet_document,
        policy=s.policy,
        outcomes=outcomes,
        verify=VerifyResults(run_id=s.run_id, timeout_s=s.verify_timeout, commands=commands),
        session=SessionRecord(run_id=s.run_id, facts=end.facts, plugin_factors=factors),
        baseline=s.baseline,
        durations={t.task_id: agg.duration(t.node_id) for t in mine if t.task_id in outcomes}
        if s.baseline is not None  # durations are read only to compare with a baseline
        else {},
        quarantine=quarantine,
        as_of=as_of_day(end.started_at),  # the recorded start: what a replay reads
    )
    return write_run(
        s.run_dir,
        inputs,
        results=to_write(),
        written=written,
        started_at=end.started_at,
        execution=end.execution,
        effective_config=end.effective_config,
        exit_status=end.exit_status,
        shard=shard,
        redactions=end.redactions,
        named=shown,
    )


def history_rows(end: SessionEnd, fallback: bool = False) -> Iterator[TaskRow]:
    """The run history's row of each planned task (of this shard), as the finish
    decided it (``fallback``: every task missing), one at a time: no result is built."""
    from ..history.store import TaskRow

    agg = end.aggregator
    for task in end.tasks:
        attempts = None if fallback else agg.attempts.get(task.node_id)
        if not attempts:
            yield TaskRow(task.task_id, task.node_id, "missing", False, 0, 0.0)
            continue
        verdict = agg.verdict(task.node_id)
        assert verdict is not None
        outcome, flaky = verdict
        yield TaskRow(task.task_id, task.node_id, outcome, flaky, len(attempts), agg.duration(task.node_id))
