"""Merge the partial runs of a sharded run into one ordinary run folder.

The merged decision is made by the same code as an unsharded run, from the
same kind of evidence, so the same inputs and outcomes give the same
``decision_digest``. A missing or duplicated shard is evidence trouble: it
is recorded and gives REJECT, never APPROVE.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..contracts.models import Execution, PluginFactor, SessionFacts, SessionRecord, VerifyResults
from ..core.decision import DecisionInputs, missing_result, outcomes_of
from ..core.plan import in_shard
from ..core.quarantine import as_of_day
from ..core.verdict import named
from .audit import read_intact
from .layout import MANIFEST
from .reader import RunReadError
from .record import RunOutcome, write_run


class MergeError(ValueError):
    """The shards cannot be merged: the message says why."""


class ShardRun:
    """One shard's run folder, checked and parsed."""

    def __init__(self, folder: Path) -> None:
        if not (folder / MANIFEST).is_file():
            raise MergeError(f"{folder}: no {MANIFEST}; give the folder of a shard's run")
        self.folder = folder
        try:
            recorded = read_intact(folder)  # read once, as `dome verify` accepts it
        except RunReadError as exc:
            raise MergeError(str(exc)) from None
        self.manifest = recorded.manifest
        if self.manifest.state != "partial" or self.manifest.shard is None:
            raise MergeError(f"{folder}: not a shard (state {self.manifest.state}); run with --dome-shard")
        self.shard = self.manifest.shard
        self.inputs = recorded.inputs
        self.plan = recorded.inputs.plan
        self.results = list(recorded.results)
        self.verify = recorded.inputs.verify
        self.session = recorded.inputs.session


def _merged_factors(shards: Iterable[ShardRun]) -> tuple[PluginFactor, ...]:
    """Each shard ran the plugins' risk-factor hooks over its own results; the merged
    run keeps, per factor, the highest value any shard saw (the cautious reading).
    A factor that does not depend on the results is the same as unsharded."""
    merged: dict[str, PluginFactor] = {}
    for shard in shards:
        for factor in shard.session.plugin_factors:
            known = merged.get(factor.name)
            if known is None or (factor.value, factor.weight) > (known.value, known.weight):
                merged[factor.name] = factor
    return tuple(merged[name] for name in sorted(merged))


def merge(run_id: str, folders: Sequence[Path], out: Path) -> RunOutcome:
    shards = [ShardRun(f) for f in folders]
    if not shards:
        raise MergeError("no shard folders given")
    digests = {s.manifest.input_digest for s in shards}
    if len(digests) > 1:
        raise MergeError(
            "the shards have different input_digests (different packets, policies, base refs "
            "or plans); merge only shards of the same run inputs"
        )
    counts = {s.shard.count for s in shards}
    if len(counts) > 1:
        raise MergeError(f"the shards disagree on the shard count: {sorted(counts)}")
    count = counts.pop()
    seen = Counter(s.shard.index for s in shards)
    first: dict[int, ShardRun] = {}
    for s in shards:
        first.setdefault(s.shard.index, s)
    base = first[min(first)]

    results = []
    for index, shard in sorted(first.items()):
        for result in shard.results:
            if in_shard(result.task_id, index, count):
                results.append(result)
    facts = [s.session.facts for s in first.values()]
    session = SessionFacts(
        collection_errors=max(f.collection_errors for f in facts),
        interrupted=any(f.interrupted for f in facts),
        worker_crashes=sum(f.worker_crashes for f in facts),
        internal_error=any(f.internal_error for f in facts),
        plan_missing=any(f.plan_missing for f in facts),
        shards_missing=count - len(first),
        shards_duplicated=sum(n - 1 for n in seen.values()),
    )
    verify_source = first.get(1)
    verify = VerifyResults(
        run_id=run_id,
        timeout_s=base.verify.timeout_s,
        commands=verify_source.verify.commands if verify_source else (),
    )
    started_at = min(s.manifest.started_at for s in shards)
    inputs = DecisionInputs(
        run_id=run_id,
        plan=base.plan,
        change_set=base.inputs.change_set,
        packet_document=base.inputs.packet_document,
        policy=base.inputs.policy,
        outcomes=outcomes_of(results),
        verify=verify,
        session=SessionRecord(run_id=run_id, facts=session, plugin_factors=_merged_factors(first.values())),
        # The shards share one input_digest, so one baseline (or none): the merged run
        # compares all the tasks with it.
        baseline=base.inputs.baseline,
        durations={r.task_id: r.duration_s for r in results},
        # One quarantine file too (its digest is in the input digest), judged on the
        # day the merged run started: its manifest's started_at, the earliest shard's.
        quarantine=base.inputs.quarantine,
        as_of=as_of_day(started_at),
    )
    execution = Execution(
        mode="xdist" if any(s.manifest.execution.mode == "xdist" for s in shards) else "serial",
        workers=sum(s.manifest.execution.workers for s in first.values()),
    )
    have = inputs.outcomes.keys()
    results += [missing_result(t) for t in base.plan.tasks if t.task_id not in have]
    return write_run(
        out,
        inputs,
        results=results,
        named=tuple(r for r in results if named(r.outcome, r.flaky)),
        started_at=started_at,
        execution=execution,
        effective_config=base.manifest.config,
        exit_status=0,  # the merged decision sets it: non-zero on REJECT
    )
