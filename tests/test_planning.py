"""Packets, deterministic plans, the default two-worker fanout and bounded retries."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Mode

MARKERS = """
def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a slow test")
"""

SUITE = """
import pytest
def test_a(): pass
@pytest.mark.slow
def test_b(): pass
@pytest.mark.parametrize("x", [1, 2, 3])
def test_c(x): pass
"""


def packet(pytester: pytest.Pytester, **overrides: object) -> str:
    doc = {
        "schema_version": "1.0.0",
        "kind": "packet",
        "packet_id": "pkt-1",
        "tasks": [
            {"kind": "tests", "id": "suite"},
            {"kind": "command", "id": "lint", "argv": ["python", "-c", "print('lint ok')"]},
            {"kind": "command", "id": "build", "argv": ["python", "-c", "pass"], "risk_weight": 5},
        ],
        **overrides,
    }
    (pytester.path / "packet.json").write_text(json.dumps(doc))
    return "--dome-packet=packet.json"


def test_packet_runs_commands_and_tests_on_two_workers_by_default(
    pytester: pytest.Pytester, dome_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    pytester.makepyfile(SUITE)
    pytester.makeconftest(MARKERS)
    result = pytester.runpytest_subprocess("--dome-run-id=r1", packet(pytester))
    assert result.ret == 0
    result.stdout.fnmatch_lines(["created: 2/2 workers*"])
    run = dome_run()
    assert run.manifest["execution"] == {"mode": "xdist", "workers": 2}
    assert run.outcomes["dome-packet::lint"] == "passed"
    assert [t["task_id"] for t in run.plan["tasks"] if t["kind"] == "command"] == ["build", "lint"]
    assert len(run.plan["tasks"]) == 7 and run.gate["input_digest"] == run.plan["input_digest"]


def test_explicit_n_wins_and_no_xdist_runs_serially(pytester: pytest.Pytester, dome_run, monkeypatch) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    pytester.makepyfile("def test_a(): pass")
    pytester.runpytest_subprocess("--dome-run-id=n1", "-n", "1")
    pytester.runpytest_subprocess("--dome-run-id=serial", "-p", "no:xdist")
    assert dome_run("n1").manifest["execution"] == {"mode": "xdist", "workers": 1}
    assert dome_run("serial").manifest["execution"] == {"mode": "serial", "workers": 1}


REVERSE = """
def pytest_collection_modifyitems(items):
    items.reverse()
"""


def test_plan_and_input_digest_identical_across_modes_and_orders(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(SUITE)
    pytester.makeconftest(MARKERS)
    arg = packet(pytester)
    pytester.runpytest_subprocess("--dome-run-id=n0", arg, "-n", "0")
    pytester.runpytest_subprocess("--dome-run-id=n2", arg, "-n", "2")
    pytester.makeconftest(MARKERS + REVERSE)
    pytester.runpytest_subprocess("--dome-run-id=rev", arg, "-n", "2")
    plans = {
        name: (pytester.path / f"ops/runtime/runs/{name}/plan.json").read_bytes()
        for name in ("n0", "n2", "rev")
    }
    assert plans["n0"] == plans["n2"] == plans["rev"]
    digests = {dome_run(n).gate["decision_digest"] for n in plans}
    assert len(digests) == 1


def test_packet_selects_tests_by_marker_path_and_prefix(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(test_one=SUITE, test_two="def test_z(): pass")
    pytester.makeconftest(MARKERS)
    tasks = [
        {"kind": "tests", "id": "slow", "select": {"markers": ["slow"]}, "critical": True},
        {"kind": "tests", "id": "c", "select": {"node_id_prefixes": ["test_one.py::test_c[1"]}},
        {"kind": "tests", "id": "two", "select": {"paths": ["test_two.py"]}, "risk_weight": 7},
    ]
    result = pytester.runpytest("--dome-run-id=r1", packet(pytester, tasks=tasks))
    result.assert_outcomes(passed=3, deselected=3)
    plan = {t["node_id"]: t for t in dome_run().plan["tasks"]}
    assert sorted(plan) == ["test_one.py::test_b", "test_one.py::test_c[1]", "test_two.py::test_z"]
    assert plan["test_one.py::test_b"]["critical"] is True and plan["test_two.py::test_z"]["risk_weight"] == 7


def test_flaky_test_passes_with_both_attempts_recorded(
    pytester: pytest.Pytester, dome_run, mode: Mode
) -> None:
    pytester.makepyfile(
        """
        import pathlib
        def test_flaky(tmp_path_factory):
            mark = pathlib.Path(__file__).with_name("attempted")
            if not mark.exists():
                mark.write_text("1")
                assert False, "first attempt fails"
        def test_ok(): pass
        """
    )
    result = pytester.runpytest("--dome-run-id=r1", "--dome-max-retries=1", *mode.args)
    assert result.ret == 0
    assert result.parseoutcomes() == {"passed": 2, "rerun": 1}
    run = dome_run()
    flaky = run.tasks["test_flaky_test_passes_with_both_attempts_recorded.py::test_flaky"]
    assert flaky["outcome"] == "passed" and flaky["flaky"] is True
    assert [a["outcome"] for a in flaky["attempts"]] == ["failed", "passed"]
    assert "TASK_FLAKY" in run.gate["reason_codes"] and run.gate["status"] == "APPROVE"
    factors = {f["name"]: f["contribution"] for f in run.gate["risk"]["factors"]}
    assert factors["flaky_rate"] == 15  # 1 of 2 tasks * weight 30


def test_always_failing_test_is_tried_one_plus_retries_times(
    pytester: pytest.Pytester, dome_run, mode: Mode
) -> None:
    pytester.makepyfile("def test_bad(): assert 0\ndef test_ok(): pass\n")
    pytester.makepyprojecttoml("[tool.dome.work.queue]\nmax_retries = 2\n")
    result = pytester.runpytest("--dome-run-id=r1", *mode.args)
    assert result.ret == 1
    run = dome_run()
    bad = next(t for t in run.tasks.values() if t["node_id"].endswith("test_bad"))
    assert [a["outcome"] for a in bad["attempts"]] == ["failed", "failed", "failed"]
    assert bad["outcome"] == "failed" and run.gate["status"] == "REJECT"
    assert run.manifest["config"]["max_retries"] == 2


def test_critical_skipped_test_rejects_and_declared_id_is_used(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.dome_task(id="db-migration", critical=True, risk_weight=40)
        def test_migrate(): pytest.skip("no database here")
        """
    )
    pytester.runpytest("--dome-run-id=r1")
    run = dome_run()
    assert [t["task_id"] for t in run.plan["tasks"]] == ["db-migration"]
    assert run.gate["status"] == "REJECT" and "CRITICAL_TASK_NOT_PASSED" in run.gate["reason_codes"]
    factors = {f["name"]: f["contribution"] for f in run.gate["risk"]["factors"]}
    assert factors["declared_task_risk"] == 40


def test_command_task_failure_reports_like_a_test(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    tasks = [
        {
            "kind": "command",
            "id": "lint",
            "argv": ["python", "-c", "import sys; print('E1 bad style'); sys.exit(2)"],
        }
    ]
    result = pytester.runpytest("--dome-run-id=r1", packet(pytester, tasks=tasks))
    result.assert_outcomes(failed=1, deselected=1)
    run = dome_run()
    lint = run.tasks["dome-packet::lint"]
    assert (
        lint["outcome"] == "failed"
        and "E1 bad style" in lint["summary"]
        and "exited with 2" in lint["summary"]
    )
    assert run.gate["status"] == "REJECT" and len(lint["attempts"]) == 2  # retried once by default


def test_command_task_env_is_an_allow_list(pytester: pytest.Pytester, dome_run, monkeypatch) -> None:
    monkeypatch.setenv("VISIBLE_VAR", "yes")
    monkeypatch.setenv("HIDDEN_VAR", "no")
    check = (
        "import os, sys; "
        "ok = os.environ.get('VISIBLE_VAR') == 'yes' and 'HIDDEN_VAR' not in os.environ; "
        "sys.exit(0 if ok else 1)"
    )
    tasks = [{"kind": "command", "id": "env", "argv": ["python", "-c", check], "env": ["VISIBLE_VAR"]}]
    pytester.runpytest_subprocess("--dome-run-id=r1", packet(pytester, tasks=tasks))
    assert dome_run().outcomes["dome-packet::env"] == "passed"


def test_packet_verify_and_policy_override_pyproject(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyprojecttoml(
        '[tool.dome]\nrisk_threshold = 90\nverify = [["python", "-c", "raise SystemExit(1)"]]\n'
    )
    pytester.makepyfile("def test_ok(): pass")
    arg = packet(pytester, verify=[["python", "-c", "pass"]], policy={"threshold": 0})
    assert pytester.runpytest("--dome-run-id=r1", arg).ret == 0
    run = dome_run()
    assert run.gate["status"] == "NEEDS_HUMAN" and run.manifest["config"]["threshold_source"] == "packet"
    assert [c["status"] for c in run.verify["commands"]] == ["passed"]
