"""Every compatibility plugin installed and enabled at once, as in a real project."""

from __future__ import annotations

import pytest

from .conftest import FLAKY_STATE, check_decision
from .test_coverage_timeout import COVERAGE_ROW, MYMOD

TOGETHER = """
import asyncio
import os

import anyio
import pytest
from flaky import flaky
from hypothesis import given, settings, strategies as st

import mymod
from state import fails_first


def test_even():
    assert mymod.half(4) == 2

@pytest.mark.asyncio
async def test_asyncio():
    assert await asyncio.sleep(0, result=1) == 1

@pytest.mark.anyio
async def test_anyio():
    await anyio.sleep(0)

@pytest.fixture
def anyio_backend():
    return "asyncio"

def test_mocker(mocker):
    mocker.patch("os.getcwd", return_value="/nowhere")
    assert os.getcwd() == "/nowhere"

@settings(max_examples=10, database=None)
@given(st.integers())
def test_property(x):
    assert mymod.half(2 * x) == x

def test_bench(benchmark):
    benchmark(sum, range(10))

def test_env():
    assert os.environ["DOME_COMPAT_FLAVOUR"] == "vanilla"

@flaky(max_runs=2)
def test_flaky_once():
    fails_first("flaky", times=1)

def test_retried_once():  # by dome: no --reruns (rerunfailures does not mix with flaky)
    fails_first("retried", times=1)

def test_slow_enough():
    pass
"""
NODES = [
    "test_even",
    "test_asyncio",
    "test_anyio",
    "test_mocker",
    "test_property",
    "test_bench",
    "test_env",
    "test_flaky_once",
    "test_retried_once",
    "test_slow_enough",
]


@pytest.mark.compat("(all of the above)", "every plugin enabled at once")
def test_all_plugins(pytester, gated, row, how):
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = --cov=mymod\n"
        "env =\n    DOME_COMPAT_FLAVOUR=vanilla\n"
    )
    pytester.makepyfile(mymod=MYMOD, state=FLAKY_STATE, test_all=TOGETHER)
    run = gated(how, "--timeout=60", "--randomly-seed=3", "--count", "1", plugins=["*"])
    run.result.stdout.re_match_lines([COVERAGE_ROW])
    run.result.stdout.fnmatch_lines(["*--randomly-seed=3*"])
    ev = check_decision(run, row)
    assert set(ev.outcomes) == {f"test_all.py::{name}" for name in NODES}
    assert set(ev.outcomes.values()) == {"passed"}
    assert {n for n, r in ev.tasks.items() if r["flaky"]} == {
        "test_all.py::test_flaky_once",
        "test_all.py::test_retried_once",
    }
