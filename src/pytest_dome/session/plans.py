"""The plan on its way from the task runner to the deciding side.

An xdist worker sends its plan as one compressed JSON string (:func:`plan_wire`); the
controller parses the first that arrives (:func:`parse_plan`). At the finish
:func:`finished_plan` takes the serial task runner's own plan, or that worker's, or,
when every worker crashed before it could send one, a fallback from the
collected node ids, flagged as missing.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..core.plan import PlannedTask
from ..core.taskid import shown_node_id, task_id_for

if TYPE_CHECKING:
    from ..core.redact import Redactor
    from .facts import SessionWatch


def plan_wire(tasks: Sequence[tuple[Any, ...]]) -> bytes:
    """A worker's plan (its tasks as plain tuples) as it is sent to the controller.

    One JSON string, compressed: execnet serialises a list item by item, in Python,
    and a 50,000-task plan as lists cost a worker about 190 MiB at its finish; as
    text, each worker's arrival held its bytes and its string at once on the
    controller (jsonschema, 7,815 tasks: an 8 MiB peak while the tests end)."""
    text = json.dumps(tasks, ensure_ascii=False, separators=(",", ":")).encode()
    return len(text).to_bytes(8, "big") + zlib.compress(text, 1)  # its size: one buffer to decompress


def _entries(text: str) -> Iterator[list[Any]]:
    """The tasks of :func:`plan_wire`'s list, parsed one at a time: the whole list
    parsed at once was the finish's peak under xdist (20,575 tasks: 8.6 MiB of
    lists and strings held beside the plan being built)."""
    decode = json.JSONDecoder().raw_decode
    if text[:1] != "[":
        raise ValueError("a worker's plan is not a JSON list")
    pos = 1
    while not text.startswith("]", pos):
        entry, pos = decode(text, pos)  # past the text's end: a ValueError
        yield entry
        if text.startswith(",", pos):
            pos += 1
    if pos != len(text) - 1:
        raise ValueError("a worker's plan ends before its text does")


def parse_plan(wire: bytes, collected_ids: Iterable[str]) -> tuple[PlannedTask, ...]:
    """A plan a worker sent (:func:`plan_wire`). Parsed JSON has a string per value:
    share the collected node ids' and the repeated kinds and weights (a 50,000-task
    plan: about 5 MiB less)."""
    same: dict[Any, Any] = {i: i for i in collected_ids}
    text = zlib.decompress(wire[8:], bufsize=int.from_bytes(wire[:8], "big")).decode()
    return tuple(
        PlannedTask(
            task_id,
            same.setdefault(kind, kind),
            same.get(node_id, node_id),
            entry,
            critical,
            same.setdefault(weight, weight),
        )
        for task_id, kind, node_id, entry, critical, weight in _entries(text)
    )


def finished_plan(
    own: tuple[PlannedTask, ...] | None, watch: SessionWatch, redactor: Redactor
) -> tuple[tuple[PlannedTask, ...], bool]:
    """The plan the finish decides from (``own``: the serial task runner's), and
    whether it is missing (a fallback)."""
    if own is not None:
        return own, False
    if watch.plan is None and watch.plan_json is not None:
        # Parsed once, and the text let go: a second finish (after an interrupt)
        # decides from the same plan.
        watch.plan = parse_plan(watch.plan_json, watch.collected_ids or ())
        watch.plan_json = None
    if watch.plan is not None:
        return watch.plan, False
    ids = [shown_node_id(i, redactor) for i in watch.collected_ids or []]
    fallback = (PlannedTask(task_id_for(i), "test", i, None, False, 0.0) for i in ids)
    return tuple(sorted(fallback, key=lambda t: t.task_id)), True
