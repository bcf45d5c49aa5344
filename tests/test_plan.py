"""Planning and the change set, as pure functions."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_dome.config.inputs import load_policy
from pytest_dome.contracts.models import Packet
from pytest_dome.core.plan import CollectedTest, PlannedTask, input_digest, make_plan
from pytest_dome.core.redact import Redactor
from pytest_dome.session import changes
from pytest_dome.session.changes import glob_to_regex, sensitive

POLICY = load_policy(None, "builtin")
NO_CHANGE = changes.unknown()
node_ids = st.lists(
    st.from_regex(r"t/test_[a-c]\.py::test_[a-z]{1,4}", fullmatch=True), unique=True, max_size=15
)


@given(node_ids, st.randoms())
def test_plan_and_digest_ignore_collection_order(ids, rnd) -> None:
    tests = [CollectedTest(i) for i in ids]
    shuffled = list(tests)
    rnd.shuffle(shuffled)
    a, b = make_plan(None, tests), make_plan(None, shuffled)
    assert a == b
    assert input_digest(None, NO_CHANGE, POLICY, a.tasks) == input_digest(None, NO_CHANGE, POLICY, b.tasks)
    assert [t.task_id for t in a.tasks] == sorted(t.task_id for t in a.tasks)


def test_input_digest_changes_with_policy_packet_and_plan() -> None:
    plan = make_plan(None, [CollectedTest("t.py::test_a")]).tasks
    base = input_digest(None, NO_CHANGE, POLICY, plan)
    assert input_digest({"x": 1}, NO_CHANGE, POLICY, plan) != base
    assert input_digest(None, NO_CHANGE, POLICY.model_copy(update={"threshold": 10}), plan) != base
    assert input_digest(None, NO_CHANGE, POLICY, ()) != base
    moved = NO_CHANGE.model_copy(update={"base_commit": "a" * 40})
    assert input_digest(None, moved, POLICY, plan) != base


def test_first_matching_entry_wins_and_unselected_tests_are_dropped() -> None:
    packet = Packet.model_validate(
        {
            "packet_id": "p",
            "tasks": [
                {"kind": "tests", "id": "api", "select": {"paths": ["t/api"]}, "critical": True},
                {"kind": "tests", "id": "all-fast", "select": {"markers": ["fast"]}},
            ],
        }
    )
    tests = [
        CollectedTest("t/api/test_x.py::test_1", frozenset({"fast"})),
        CollectedTest("t/ui/test_y.py::test_2", frozenset({"fast"})),
        CollectedTest("t/ui/test_y.py::test_3"),
    ]
    result = make_plan(packet, tests)
    assert {t.node_id: (t.entry, t.critical) for t in result.tasks} == {
        "t/api/test_x.py::test_1": ("api", True),
        "t/ui/test_y.py::test_2": ("all-fast", False),
    }
    assert result.problems == ()


def test_duplicate_declared_ids_are_a_problem() -> None:
    tests = [
        CollectedTest("a.py::t1", declared={"id": "same"}),
        CollectedTest("b.py::t2", declared={"id": "SAME"}),
    ]
    assert any("is used by" in p for p in make_plan(None, tests).problems)


def test_globs() -> None:
    assert glob_to_regex("**/auth/**").match("src/auth/login.py")
    assert glob_to_regex("**/auth/**").match("auth/x.py")
    assert not glob_to_regex("*.py").match("src/a.py")
    assert glob_to_regex(".github/workflows/**").match(".github/workflows/ci.yml")
    assert sensitive(
        ["Dockerfile", "src/app.py", "db/migrations/001.sql"], POLICY.change_set.sensitive_globs
    ) == ("Dockerfile", "db/migrations/001.sql")


@given(node_ids, st.lists(st.sampled_from([0.0, 2.5, 100.0]), min_size=15, max_size=15))
def test_a_workers_plan_arrives_as_it_was_planned(ids, weights) -> None:
    """What a worker sends (plan_wire) is what the controller decides from (parse_plan):
    the same tasks, and the node ids shared with those the controller collected."""
    from pytest_dome.session.plans import parse_plan, plan_wire

    planned = make_plan(None, [CollectedTest(i) for i in ids]).tasks
    planned = tuple(
        t._replace(risk_weight=w, critical=w > 50) for t, w in zip(planned, weights, strict=False)
    )
    collected = ["".join(i) for i in ids]  # equal strings, other objects
    assert all(c is not i for c, i in zip(collected, ids, strict=True))
    parsed = parse_plan(plan_wire([tuple(t) for t in planned]), collected)
    assert parsed == planned
    by_text = {i: i for i in collected}
    assert all(t.node_id is by_text[t.node_id] for t in parsed)


def _long_plan(count: int) -> tuple[PlannedTask, ...]:
    tests = [CollectedTest(f"tests/test_data.py::TestLocale::test_{'x' * 120}_{n}") for n in range(count)]
    return make_plan(None, tests).tasks


def test_a_workers_plan_is_parsed_one_task_at_a_time() -> None:
    """Under xdist the finish's peak was the worker's plan parsed whole (every task
    a list of strings, beside the plan being built): parsed a task at a time, what
    parsing holds beyond the plan it returns stays small."""
    import tracemalloc

    from pytest_dome.session.plans import parse_plan, plan_wire

    planned = _long_plan(5000)
    wire = plan_wire([tuple(t) for t in planned])
    text = zlib.decompress(wire[8:])
    ids = [t.node_id for t in planned]
    tracemalloc.start()
    try:
        parsed = parse_plan(wire, ids)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed == planned
    assert peak - kept < len(text) * 2.5  # its bytes, its text and one task


def test_the_finish_parses_a_workers_plan_once_and_lets_its_text_go() -> None:
    from pytest_dome.session.facts import SessionWatch
    from pytest_dome.session.plans import finished_plan, plan_wire

    planned = _long_plan(3)
    watch = SessionWatch()
    watch.plan_json = plan_wire([tuple(t) for t in planned])
    first, missing = finished_plan(None, watch, Redactor())
    assert (first, missing) == (planned, False)
    assert watch.plan_json is None
    assert finished_plan(None, watch, Redactor())[0] is first  # a second finish: the same plan


@pytest.mark.parametrize("text", ["", "{}", "[[1]", '[["a","test","n",null,false,1.0]] x'])
def test_a_broken_plan_text_is_refused(text: str) -> None:
    from pytest_dome.session.plans import parse_plan

    with pytest.raises(ValueError):
        parse_plan(len(text).to_bytes(8, "big") + zlib.compress(text.encode()), [])
