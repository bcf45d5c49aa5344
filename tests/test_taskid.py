"""Task ids: stable, filename-safe and distinct, whatever the node id."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pytest_dome.core.taskid import task_id_for

SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def test_readable_and_stable() -> None:
    tid = task_id_for("tests/test_api.py::TestLogin::test_ok[admin-1]")
    assert re.fullmatch(r"tests_test_api.py_TestLogin_test_ok_admin-1-[0-9a-f]{12}", tid)
    assert tid == task_id_for("tests/test_api.py::TestLogin::test_ok[admin-1]")


def test_hostile_node_ids_give_safe_names() -> None:
    for node_id in ["../../etc/passwd", "a/../../b", "\x00", "..", "/", "x" * 5000, "::", "é€😀"]:
        tid = task_id_for(node_id)
        assert SAFE.fullmatch(tid) and ".." not in tid, node_id


def test_case_only_differences_stay_distinct_on_case_insensitive_disks() -> None:
    assert task_id_for("t.py::test_A").lower() != task_id_for("t.py::test_a").lower()


@given(st.text(min_size=1, max_size=300))
def test_any_node_id_is_safe(node_id: str) -> None:
    tid = task_id_for(node_id)
    assert SAFE.fullmatch(tid) and ".." not in tid


@given(st.text(min_size=1), st.text(min_size=1))
def test_distinct_node_ids_give_distinct_ids(a: str, b: str) -> None:
    if a != b:
        assert task_id_for(a).lower() != task_id_for(b).lower()
