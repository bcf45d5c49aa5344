"""Deterministic planning: the packet and the collected tests become the plan.

Pure: the pytest shell hands in what it collected; the plan is the same for
the same inputs on any machine, under any ``-n``, in any collection order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .canonical import canonical_digest, json_string
from .taskid import is_safe_id, task_id_for

if TYPE_CHECKING:  # the models (pydantic) are imported only where a packet is planned
    from ..contracts.models import ChangeSet, CommandTask, Packet, RiskPolicy, Selection, SuiteTask

COMMAND_PREFIX = "dome-packet::"
"""Node ids of command tasks are ``dome-packet::<task id>``."""


class PlannedTask(NamedTuple):
    """One task of the plan: an entry of ``plan.json``'s ``tasks``."""

    task_id: str
    kind: Literal["test", "command"]
    node_id: str
    entry: str | None
    critical: bool
    risk_weight: float


class Plan(NamedTuple):
    """What ``plan.json`` holds but its constants (``schema_version``, ``kind``): the
    one record type of that artifact, written by :func:`planned_pretty` (held to the
    schema by a property test) and read by :func:`read_plan`."""

    packet_id: str | None
    input_digest: str
    tasks: tuple[PlannedTask, ...]


def planned_pretty(task: PlannedTask) -> str:
    """A planned task as ``evidence.render`` writes it in the plan's ``tasks`` list."""
    return (
        "\n    {\n"
        f'      "critical": {"true" if task.critical else "false"},\n'
        f'      "entry": {json_string(task.entry)},\n'
        f'      "kind": {encode_basestring(task.kind)},\n'
        f'      "node_id": {encode_basestring(task.node_id)},\n'
        f'      "risk_weight": {float(task.risk_weight)!r},\n'
        f'      "task_id": {encode_basestring(task.task_id)}\n'
        "    }"
    )


def planned_canonical(task: PlannedTask) -> str:
    """A planned task as ``canonical.canonical_json`` writes it."""
    return (
        f'{{"critical":{"true" if task.critical else "false"},"entry":{json_string(task.entry)},'
        f'"kind":{encode_basestring(task.kind)},"node_id":{encode_basestring(task.node_id)},'
        f'"risk_weight":{float(task.risk_weight)!r},"task_id":{encode_basestring(task.task_id)}}}'
    )


@dataclass(frozen=True)
class CollectedTest:
    """What planning needs to know of one collected test item."""

    node_id: str
    markers: frozenset[str] = frozenset()
    declared: Mapping[str, Any] = field(default_factory=dict)
    """The keyword arguments of its ``@pytest.mark.dome_task(...)``, if any."""
    shown: str | None = None
    """The node id as it may be written (redacted), when it differs."""

    @property
    def path(self) -> str:
        return self.node_id.split("::", 1)[0]


@dataclass(frozen=True)
class PlanResult:
    tasks: tuple[PlannedTask, ...]
    task_of: Mapping[str, str]
    """Collected node id (as pytest has it) -> task id, for the tests that are tasks;
    the others are deselected."""
    problems: tuple[str, ...]


def _matches(select: Selection | None, test: CollectedTest) -> bool:
    if select is None:
        return True
    if select.paths is not None:
        paths = [p.strip("/").removeprefix("./") for p in select.paths]
        if not any(p in ("", ".") or test.path == p or test.path.startswith(p + "/") for p in paths):
            return False
    if select.node_id_prefixes is not None and not any(
        test.node_id.startswith(prefix) for prefix in select.node_id_prefixes
    ):
        return False
    return select.markers is None or any(m in test.markers for m in select.markers)


def _declared(test: CollectedTest, entry: SuiteTask | None) -> tuple[str, bool, float, str | None]:
    """Task id, critical, risk weight of a test, and a problem with its marker (or None)."""
    declared = test.declared
    critical = bool(declared.get("critical", entry.critical if entry and entry.critical else False))
    weight = declared.get("risk_weight", entry.risk_weight if entry and entry.risk_weight else 0.0)
    task_id = declared.get("id") or task_id_for(test.node_id, test.shown)
    problem = None
    unknown = set(declared) - {"id", "critical", "risk_weight", "_positional"}
    if declared.get("_positional") or unknown:
        problem = f"{test.node_id}: dome_task takes only id=, critical= and risk_weight= keywords"
    elif "critical" in declared and not isinstance(declared["critical"], bool):
        problem = f"{test.node_id}: dome_task critical={declared['critical']!r} is not True or False"
    elif not is_safe_id(task_id):
        problem = f"{test.node_id}: dome_task id {task_id!r} is not a safe task id"
    elif not isinstance(weight, (int, float)) or not 0 <= weight <= 100:
        problem = f"{test.node_id}: dome_task risk_weight {weight!r} is not a number from 0 to 100"
    return task_id, critical, float(weight) if problem is None else 0.0, problem


def command_task(task: CommandTask) -> PlannedTask:
    return PlannedTask(
        task_id=task.id,
        kind="command",
        node_id=COMMAND_PREFIX + task.id,
        entry=task.id,
        critical=bool(task.critical),
        risk_weight=task.risk_weight or 0.0,
    )


def make_plan(packet: Packet | None, tests: Sequence[CollectedTest]) -> PlanResult:
    """The implementer tasks of a run, sorted by task id.

    Without a packet every collected test is a task. With one, its command
    tasks are tasks, and a collected test is a task when a ``tests`` entry
    selects it (the first such entry, in packet order); other tests are
    deselected. An entry that selects nothing, or two tasks with one id, is a
    problem the caller reports as bad input.
    """
    problems: list[str] = []
    tasks: list[PlannedTask] = []
    task_of: dict[str, str] = {}
    if packet is not None:
        from ..contracts.models import CommandTask, SuiteTask
    suites = [t for t in packet.tasks if isinstance(t, SuiteTask)] if packet else []
    used: dict[str, int] = {s.id: 0 for s in suites}
    for test in tests:
        entry = next((s for s in suites if _matches(s.select, test)), None) if packet else None
        if packet and entry is None:
            continue
        task_id, critical, weight, problem = _declared(test, entry)
        if problem:
            problems.append(problem)
            continue
        if entry is not None:
            used[entry.id] += 1
        task_of[test.node_id] = task_id
        tasks.append(
            PlannedTask(
                task_id=task_id,
                kind="test",
                node_id=test.shown or test.node_id,
                entry=entry.id if entry else None,
                critical=critical,
                risk_weight=weight,
            )
        )
    if packet:
        tasks += [command_task(t) for t in packet.tasks if isinstance(t, CommandTask)]
        problems += [
            f"packet task {entry_id!r} selects no collected test; fix its select "
            "(or the path arguments that narrowed the collection)"
            for entry_id, count in used.items()
            if count == 0
        ]
    seen: dict[str, str] = {}
    for task in tasks:
        key = task.task_id.lower()
        if key in seen and seen[key] == task.node_id:  # distinct tests, alike once redacted
            problems.append(
                f"two tests are shown as {task.node_id} once the secrets in their ids are redacted "
                "(tokens of one kind, held by no variable); give each its own id: "
                'pytest.param(value, id="...")'
            )
        elif key in seen:
            problems.append(f"task id {task.task_id!r} is used by {seen[key]} and {task.node_id}")
        seen[key] = task.node_id
    return PlanResult(
        tasks=tuple(sorted(tasks, key=lambda t: t.task_id)),
        task_of=task_of,
        problems=tuple(problems),
    )


def input_digest(
    packet_document: Any,
    change_set: ChangeSet,
    policy: RiskPolicy,
    tasks: Iterable[PlannedTask],
    baseline: str | None = None,
    quarantine: str | None = None,
) -> str:
    """SHA-256 of the canonical input contract: packet, change set, policy and plan,
    and the digest of the baseline summary of a run compared with one (``baseline``;
    absent, not null, without one: the same inputs without a baseline give the same
    digest as before the baseline existed), and likewise the digest of the recorded
    quarantine file (``quarantine``; not the day it is judged on, so that shards
    started on either side of midnight share one input digest)."""
    change = change_set.model_dump(mode="json")
    head = {
        "packet": packet_document,
        "change_set": {k: change[k] for k in ("base_ref", "base_commit", "head_commit", "files")},
        "policy": policy.model_dump(mode="json"),
    }
    if baseline is not None:
        head["baseline"] = baseline
    if quarantine is not None:
        head["quarantine"] = quarantine
    return canonical_digest(head, "tasks", list(tasks), planned_canonical)


def in_shard(task_id: str, index: int, count: int) -> bool:
    """Deterministic partition by task id: a task's shard depends on its id alone,
    so adding tasks never moves the others."""
    bucket = int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "big") % count
    return bucket == index - 1


def read_plan(doc: dict[str, Any]) -> Plan:
    """A schema-checked plan document as a :class:`Plan`."""
    tasks = tuple(
        PlannedTask(t["task_id"], t["kind"], t["node_id"], t["entry"], t["critical"], float(t["risk_weight"]))
        for t in doc["tasks"]
    )
    return Plan(doc["packet_id"], doc["input_digest"], tasks)
