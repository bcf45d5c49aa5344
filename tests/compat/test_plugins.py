"""Plugins that add fixtures, markers, options or output: each still does its
job in a gated run, and the gate decides as without it."""

from __future__ import annotations

import re

import pytest

from .conftest import check_decision

ORDERED = """
from pathlib import Path

def record(name):
    with open(Path(__file__).parent / "order.txt", "a") as f:
        f.write(name + "\\n")

""" + "".join(f"def test_{n:02d}():\n    record('test_{n:02d}')\n\n" for n in range(12))


@pytest.mark.compat("pytest-randomly", "--randomly-seed=1, then 2")
def test_randomly(pytester, gated, row, how):
    """The order is shuffled by the seed, the seed is reported, and the decision
    (its digest) does not depend on the order."""
    pytester.makepyfile(test_order=ORDERED)
    digests, orders = set(), []
    for seed in ("1", "2"):
        run = gated(how, f"--randomly-seed={seed}", plugins=["pytest-randomly"])
        run.result.stdout.fnmatch_lines([f"*--randomly-seed={seed}*"])
        ev = check_decision(run, row)
        assert set(ev.tasks) == {f"test_order.py::test_{n:02d}" for n in range(12)}
        digests.add(ev.gate["decision_digest"])
        order = (pytester.path / "order.txt").read_text().split()
        (pytester.path / "order.txt").unlink()
        assert sorted(order) == [f"test_{n:02d}" for n in range(12)]
        orders.append(order)
    if how == "serial":  # one process runs them all: the whole order is the seed's
        assert orders[0] != orders[1]
        assert sorted(orders[0]) != orders[0]
    assert len(digests) == 1


@pytest.mark.compat("pytest-asyncio", "@pytest.mark.asyncio")
def test_asyncio(pytester, gated, row, how):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_async="""
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def value():
            await asyncio.sleep(0)
            return 42

        @pytest.mark.asyncio
        async def test_awaits(value):
            assert await asyncio.sleep(0, result=value) == 42
        """
    )
    run = gated(how, plugins=["pytest-asyncio"])
    run.result.assert_outcomes(passed=1)
    ev = check_decision(run, row)
    assert ev.outcomes == {"test_async.py::test_awaits": "passed"}


@pytest.mark.compat("anyio", "@pytest.mark.anyio")
def test_anyio(pytester, gated, row, how):
    pytester.makepyfile(
        test_any="""
        import anyio
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_sleeps():
            await anyio.sleep(0)
            assert anyio.get_current_task().name
        """
    )
    run = gated(how, plugins=["anyio"])
    run.result.assert_outcomes(passed=1)
    ev = check_decision(run, row)
    assert ev.outcomes == {"test_any.py::test_sleeps": "passed"}


@pytest.mark.compat("pytest-repeat", "--count 3")
def test_repeat(pytester, gated, row, how):
    pytester.makepyfile(test_rep="def test_again():\n    pass\n")
    run = gated(how, "--count", "3", plugins=["pytest-repeat"])
    run.result.assert_outcomes(passed=3)
    ev = check_decision(run, row)
    assert ev.outcomes == {f"test_rep.py::test_again[{n}-3]": "passed" for n in (1, 2, 3)}


@pytest.mark.compat("hypothesis", "@given")
def test_hypothesis(pytester, gated, row, how):
    pytester.makepyfile(
        test_prop="""
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=20, database=None)
        @given(st.integers())
        def test_double(x):
            assert 2 * x - x == x
        """
    )
    run = gated(how, "--hypothesis-show-statistics", plugins=["hypothesis"])
    run.result.stdout.fnmatch_lines(["*Hypothesis Statistics*", "*test_double*"])
    ev = check_decision(run, row)
    assert ev.outcomes == {"test_prop.py::test_double": "passed"}


@pytest.mark.compat("pytest-mock", "mocker")
def test_mock(pytester, gated, row, how):
    pytester.makepyfile(
        test_mocked="""
        import os

        def test_patched(mocker):
            getcwd = mocker.patch("os.getcwd", return_value="/nowhere")
            assert os.getcwd() == "/nowhere"
            getcwd.assert_called_once_with()
        """
    )
    run = gated(how, plugins=["pytest-mock"])
    run.result.assert_outcomes(passed=1)
    ev = check_decision(run, row)
    assert ev.outcomes == {"test_mocked.py::test_patched": "passed"}


@pytest.mark.compat("pytest-sugar", "--force-sugar")
def test_sugar(pytester, gated, row, how):
    pytester.makepyfile(test_sweet="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    run = gated(how, "--force-sugar", plugins=["pytest-sugar"])  # sugar draws only on a terminal, else
    run.result.stdout.fnmatch_lines(["*dome release gate*", "decision: APPROVE*", "Results (*"])
    ev = check_decision(run, row)
    assert ev.outcomes == {"test_sweet.py::test_a": "passed", "test_sweet.py::test_b": "passed"}


@pytest.mark.compat("pytest-benchmark", "benchmark fixture")
def test_benchmark(pytester, gated, row, how):
    """Serially the benchmark runs and its table is printed; under xdist the
    plugin disables itself (it says so) and the test still runs once."""
    pytester.makepyfile(
        test_bench="""
        def test_sum(benchmark):
            assert benchmark(sum, range(100)) == 4950
        """
    )
    run = gated(how, plugins=["pytest-benchmark"])
    run.result.assert_outcomes(passed=1)
    if how == "serial":
        run.result.stdout.fnmatch_lines(["*benchmark: 1 tests*", "*test_sum*"])
    else:
        disabled = "Benchmarks are automatically disabled because xdist plugin is active"
        assert disabled in run.result.stderr.str()
        assert not re.search(r"benchmark: \d+ tests", run.out)
    ev = check_decision(run, row)
    assert ev.outcomes == {"test_bench.py::test_sum": "passed"}


@pytest.mark.compat("pytest-env", "env = in the ini")
def test_env(pytester, gated, row, how):
    pytester.makeini("[pytest]\nenv =\n    DOME_COMPAT_FLAVOUR=vanilla\n")
    pytester.makepyfile(
        test_environ="""
        import os

        def test_flavour():
            assert os.environ["DOME_COMPAT_FLAVOUR"] == "vanilla"
        """
    )
    run = gated(how, plugins=["pytest-env"])
    run.result.assert_outcomes(passed=1)
    ev = check_decision(run, row)
    assert ev.outcomes == {"test_environ.py::test_flavour": "passed"}
