"""The comparison of a run with its baseline run: a pure function of the recorded
baseline summary, the run's task verdicts and durations, and the policy's
``baseline`` settings. No file system, no clock: the gate, replay and ``dome diff``
call the same function and get the same comparison on every machine.

What got worse, per task: a **new failure** (fails now, did not fail in the
baseline or was not in it), a **known failure** (failed there too), a **newly
flaky** task, a **removed** task (planned there, not now) and a **markedly
slower** task. Durations are noisy, so a slower task must pass two tests at once:
slower by at least ``min_slowdown_s`` seconds (the noise floor of short tests) and
by a factor of at least ``slowdown_ratio`` (the noise of long ones). For the suite
as a whole, an exact one-sided **sign test** over the tasks clean in both runs that
took at least ``suite_min_duration_s``: under "nothing changed" each is slower or
faster with probability 1/2, so k slower tasks out of n has the binomial tail as
its p-value; the suite is slower when that p-value is at most ``suite_alpha`` and
the median ratio now/baseline reaches ``suite_ratio`` (with thousands of tasks a
2% shift is significant, yet not worth a human). Integer arithmetic for the test,
IEEE double operations (the same on every machine) for the ratios.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from math import comb
from typing import TYPE_CHECKING, Any, NamedTuple

from ..contracts import reasons as rc
from ..contracts.baseline_models import SuiteCheck
from ..contracts.models import (
    FAILING_OUTCOMES,
    BaselineCheck,
    BaselinePolicy,
    BaselineRun,
    BaselineSummary,
    TaskOutcome,
)
from .canonical import digest

if TYPE_CHECKING:
    from .verdict import TaskVerdict

RESOLUTION_S = 0.001
"""A baseline duration below this counts as this in a ratio (a timer's resolution)."""


class RecordedBaseline(NamedTuple):
    """A baseline summary with its digest, computed once (at configure, or on reading)."""

    summary: BaselineSummary
    digest: str

    @classmethod
    def of(cls, summary: BaselineSummary) -> RecordedBaseline:
        return cls(summary, digest(summary.model_dump(mode="json")))

    @classmethod
    def read(cls, document: Any) -> RecordedBaseline:
        """A schema-checked ``inputs/baseline.summary.json`` document."""
        return cls.of(BaselineSummary.model_validate(document))


def _clean(outcome: TaskOutcome, flaky: bool) -> bool:
    return outcome == "passed" and not flaky


class Slower(NamedTuple):
    task_id: str
    before_s: float
    after_s: float

    @property
    def ratio(self) -> float:
        return self.after_s / max(self.before_s, RESOLUTION_S)


@dataclass(frozen=True)
class SuiteShift:
    tasks: int
    slower_tasks: int
    p_value: Fraction
    median_ratio: float | None
    slower: bool


def sign_test(n: int, k: int) -> Fraction:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly (1 when k <= 0)."""
    if k <= 0:
        return Fraction(1)
    if k > n:
        return Fraction(0)
    term, total = comb(n, k), 0
    for j in range(k, n + 1):
        total += term
        term = term * (n - j) // (j + 1)
    return Fraction(total, 1 << n)


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def suite_shift(pairs: Iterable[tuple[float, float]], policy: BaselinePolicy) -> SuiteShift:
    """The sign test over the (before, after) durations of the tasks clean in both runs."""
    measured = [
        (before, after)
        for before, after in pairs
        if before != after and max(before, after) >= policy.suite_min_duration_s
    ]
    slower = sum(1 for before, after in measured if after > before)
    p_value = sign_test(len(measured), slower)
    ratio = median([after / max(before, RESOLUTION_S) for before, after in measured])
    significant = p_value <= Fraction(repr(policy.suite_alpha))
    return SuiteShift(
        len(measured),
        slower,
        p_value,
        ratio,
        significant and ratio is not None and ratio >= policy.suite_ratio,
    )


def markedly_slower(before: float, after: float, policy: BaselinePolicy) -> bool:
    """Slower by the noise floor in seconds and by the ratio, both."""
    return (
        after > before and after - before >= policy.min_slowdown_s and after >= policy.slowdown_ratio * before
    )


@dataclass(frozen=True)
class Comparison:
    """What changed from the baseline run to this one (task ids, sorted)."""

    baseline: BaselineRun
    summary_digest: str
    compared: int
    new_failures: tuple[str, ...]
    known_failures: tuple[str, ...]
    newly_flaky: tuple[str, ...]
    removed: tuple[str, ...]
    added: tuple[str, ...]
    fixed: tuple[str, ...]
    slower: tuple[Slower, ...]
    """Slowest ratio first."""
    suite: SuiteShift
    names: Mapping[str, str] = field(default_factory=dict)
    """Task id -> node id, for people (the gate needs none)."""

    def name(self, task_id: str) -> str:
        return self.names.get(task_id, task_id)

    @property
    def worse(self) -> bool:
        """Something got worse: a new failure, a newly flaky, removed or slower task, a slower suite."""
        return bool(self.new_failures or self.newly_flaky or self.removed or self.slower or self.suite.slower)

    def check(self) -> BaselineCheck:
        """The gate decision's ``checks.baseline``."""
        suite = self.suite
        return BaselineCheck(
            baseline_run_id=self.baseline.run_id,
            summary_digest=self.summary_digest,
            compared=self.compared,
            new_failures=len(self.new_failures),
            known_failures=len(self.known_failures),
            newly_flaky=len(self.newly_flaky),
            removed=len(self.removed),
            added=len(self.added),
            fixed=len(self.fixed),
            slower=len(self.slower),
            suite=SuiteCheck(
                tasks=suite.tasks,
                slower_tasks=suite.slower_tasks,
                p_value=round(float(suite.p_value), 6),
                slower=suite.slower,
            ),
        )

    def factor_values(self, policy: BaselinePolicy) -> dict[str, Fraction]:
        """The value in [0, 1] of each baseline risk factor."""

        def saturating(count: int) -> Fraction:
            return min(Fraction(1), Fraction(count, policy.saturate_at))

        return {
            "baseline_new_failures": saturating(len(self.new_failures)),
            "baseline_newly_flaky": saturating(len(self.newly_flaky)),
            "baseline_removed_tasks": saturating(len(self.removed)),
            "baseline_slower_tasks": saturating(len(self.slower)),
            "baseline_suite_slower": Fraction(int(self.suite.slower)),
        }

    def codes(self) -> set[str]:
        codes = {rc.BASELINE_COMPARED}
        for found, code in (
            (self.new_failures, rc.BASELINE_NEW_FAILURE),
            (self.known_failures, rc.BASELINE_KNOWN_FAILURE),
            (self.newly_flaky, rc.BASELINE_NEWLY_FLAKY),
            (self.removed, rc.BASELINE_TASKS_REMOVED),
            (self.slower, rc.BASELINE_TASKS_SLOWER),
            (self.suite.slower, rc.BASELINE_SUITE_SLOWER),
        ):
            if found:
                codes.add(code)
        return codes


def compare(
    baseline: RecordedBaseline,
    current: Iterable[TaskVerdict],
    policy: BaselinePolicy,
    names: Mapping[str, str] | None = None,
) -> Comparison:
    """Compare the tasks of this run (``current``: every planned task, 'missing'
    when it has no result) with the baseline summary. ``names``: this run's node
    ids by task id (the baseline's are in its summary)."""
    before = {t.task_id: t for t in baseline.summary.tasks}
    new: list[str] = []
    known: list[str] = []
    flaky: list[str] = []
    added: list[str] = []
    fixed: list[str] = []
    seen: set[str] = set()
    slower: list[Slower] = []
    pairs: list[tuple[float, float]] = []
    for task in current:
        seen.add(task.task_id)
        old = before.get(task.task_id)
        if task.outcome in FAILING_OUTCOMES:
            (known if old is not None and old.outcome in FAILING_OUTCOMES else new).append(task.task_id)
        elif old is not None and old.outcome in FAILING_OUTCOMES:
            fixed.append(task.task_id)
        if task.flaky and not (old is not None and old.flaky):
            flaky.append(task.task_id)
        if old is None:
            added.append(task.task_id)
        elif _clean(task.outcome, task.flaky) and _clean(old.outcome, old.flaky):
            pairs.append((old.duration_s, task.duration_s))
            if markedly_slower(old.duration_s, task.duration_s, policy):
                slower.append(Slower(task.task_id, old.duration_s, task.duration_s))
    shown = {t.task_id: t.node_id for t in baseline.summary.tasks}
    shown.update(names or {})
    return Comparison(
        baseline=baseline.summary.baseline,
        summary_digest=baseline.digest,
        compared=len(seen) - len(added),
        new_failures=tuple(sorted(new)),
        known_failures=tuple(sorted(known)),
        newly_flaky=tuple(sorted(flaky)),
        removed=tuple(sorted(before.keys() - seen)),
        added=tuple(sorted(added)),
        fixed=tuple(sorted(fixed)),
        slower=tuple(sorted(slower, key=lambda s: (-s.ratio, s.task_id))),
        suite=suite_shift(pairs, policy),
        names=shown,
    )
