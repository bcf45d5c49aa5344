"""The plugin end to end, with pytester: a tiny suite in, a decision and evidence out."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Mode, RunEvidence

SUITE = """
import pytest
def test_one(): pass
@pytest.mark.parametrize("x", [1, 2])
def test_two(x): assert x
def test_skip(): pytest.skip("not here")
@pytest.mark.xfail(reason="known")
def test_xfail(): assert 0
"""

FAILING = """
def test_ok(): pass
def test_bad(): assert 1 == 2, "broken"
"""


def test_inactive_without_run_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, skipped=1, xfailed=1)
    assert "dome release gate" not in result.stdout.str()
    assert not (pytester.path / "ops").exists()


def decides_like_a_serial_run(pytester: pytest.Pytester, dome_run, run: RunEvidence, *args: str) -> None:
    """``run`` has the decision and the outcomes of a serial run, in this process and
    without xdist, of the same suite with the same arguments."""
    pytester.runpytest("--dome-run-id=serial-base", "-p", "no:xdist", *args)
    base = dome_run("serial-base")
    assert run.gate["decision_digest"] == base.gate["decision_digest"]
    assert run.outcomes == base.outcomes


def test_green_suite_approves(pytester: pytest.Pytester, dome_run, mode: Mode) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--dome-run-id=r1", "--dome-verify=python -c pass", *mode.args)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*dome release gate*", "decision: APPROVE*", "evidence: ops/runtime/runs/r1"]
    )
    run = dome_run()
    assert run.gate["status"] == "APPROVE" and run.promotion["action"] == "promote"
    assert run.gate["reason_codes"] == [
        "ALL_CHECKS_PASSED",
        "RISK_BELOW_THRESHOLD",
        "TASKS_SKIPPED",
        "TASKS_XFAILED",
    ]
    assert sorted(run.outcomes.values()) == ["passed", "passed", "passed", "skipped", "xfailed"]
    assert run.tasks["test_green_suite_approves.py::test_skip"]["summary"] == "skipped: not here"
    assert run.manifest["execution"] == mode.execution
    decides_like_a_serial_run(pytester, dome_run, run, "--dome-verify=python -c pass")


def test_failing_task_rejects(pytester: pytest.Pytester, dome_run, mode: Mode) -> None:
    pytester.makepyfile(FAILING)
    result = pytester.runpytest("--dome-run-id=r1", *mode.args)
    assert result.ret == 1
    run = dome_run()
    assert run.gate["status"] == "REJECT" and run.promotion["action"] == "stop"
    assert "TASK_FAILED" in run.gate["reason_codes"]
    bad = run.tasks["test_failing_task_rejects.py::test_bad"]
    assert bad["outcome"] == "failed" and "broken" in bad["summary"]
    assert bad["summary"].startswith("test_failing_task_rejects.py:2: ")
    assert run.manifest["execution"] == mode.execution
    decides_like_a_serial_run(pytester, dome_run, run)


def test_failing_verify_rejects_green_suite(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest(
        "--dome-run-id=r1", "--dome-verify=python -c 'print(\"lint failed\"); raise SystemExit(3)'"
    )
    assert result.ret == 1
    result.assert_outcomes(passed=1)
    run = dome_run()
    assert run.gate["status"] == "REJECT" and "VERIFY_FAILED" in run.gate["reason_codes"]
    (command,) = run.verify["commands"]
    assert command["exit_code"] == 3 and "lint failed" in command["output_tail"]


def test_threshold_zero_needs_human_and_exits_zero(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--dome-run-id=r1", "--dome-risk-threshold=0")
    assert result.ret == 0
    run = dome_run()
    assert run.gate["status"] == "NEEDS_HUMAN" and run.promotion["action"] == "hold"
    assert run.gate["risk"]["threshold"] == 0 and "RISK_AT_OR_ABOVE_THRESHOLD" in run.gate["reason_codes"]


def test_fail_on_needs_human(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--dome-run-id=r1", "--dome-risk-threshold=0", "--dome-fail-on=NEEDS_HUMAN")
    assert result.ret == 1
    assert dome_run().manifest["exit_status"] == 1


def test_pyproject_configures_the_gate(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.dome]
        runtime_dir = "evidence"
        policy = "gate/policy.json"
        verify = [["python", "-c", "print('checked')"]]
        fail_on = ["NEEDS_HUMAN"]
        """
    )
    (pytester.path / "gate").mkdir()
    (pytester.path / "gate/policy.json").write_text(
        '{"schema_version": "1.0.0", "kind": "risk.policy", "policy_id": "strict", "threshold": 5,'
        ' "factors": {"skipped_rate": {"weight": 100}}}'
    )
    pytester.makepyfile("import pytest\ndef test_ok(): pass\ndef test_skip(): pytest.skip('later')\n")
    result = pytester.runpytest("--dome-run-id=r1")
    assert result.ret == 1  # NEEDS_HUMAN, and fail_on says so
    run = dome_run(runtime="evidence")
    assert run.gate["status"] == "NEEDS_HUMAN"
    assert run.gate["risk"]["score"] == 50 and run.gate["risk"]["policy_id"] == "strict"
    assert run.manifest["config"]["policy_source"] == "gate/policy.json"
    assert run.verify["commands"][0]["output_tail"] == "checked\n"
    # The threshold option wins over the policy.
    assert pytester.runpytest("--dome-run-id=r2", "--dome-risk-threshold=60").ret == 0
    assert dome_run("r2", runtime="evidence").manifest["config"]["threshold_source"] == "option"


def test_secrets_never_reach_the_evidence(pytester: pytest.Pytester, dome_run, monkeypatch) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-very-secret-123")
    pytester.makepyfile(
        """
        import os
        def test_leak():
            assert os.environ["DEPLOY_TOKEN"] == "ghp_" + "A" * 36
        """
    )
    pytester.runpytest_subprocess(
        "--dome-run-id=r1",
        "--dome-verify=python -c 'import os; print(os.environ[\"DEPLOY_TOKEN\"])'",
    )
    run = dome_run()
    for path in run.path.rglob("*.json"):
        text = path.read_text()
        assert "tok-very-secret-123" not in text and "AAAAAAAAAAAAAAAA" not in text, path
    (result,) = run.tasks.values()
    assert "[REDACTED:env_secret]" in result["summary"] and "[REDACTED:github_token]" in result["summary"]
    assert run.verify["commands"][0]["output_tail"] == "[REDACTED:env_secret]\n"


def test_collect_only_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--dome-run-id=r1", "--collect-only")
    assert result.ret == 0 and not (pytester.path / "ops").exists()


def test_inactive_plugin_imports_nothing_heavy(pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS")  # the suite's own --dome-max-workers=0
    pytester.makeconftest(
        """
        import sys
        def pytest_sessionfinish(session):
            loaded = sorted(m for m in sys.modules if m.startswith("pytest_dome."))
            print("DOME-MODULES", loaded)
        """
    )
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("-s", "-p", "no:xdist")
    loaded = (
        "DOME-MODULES ['pytest_dome.config', 'pytest_dome.config.inikeys', 'pytest_dome.hookspecs',"
        " 'pytest_dome.plugin']"
    )
    assert loaded in result.stdout.str()


def test_no_automatic_collection_from_the_finish_to_pytests_own(pytester: pytest.Pytester) -> None:
    """The garbage collector is paused from the session's finish until after pytest's
    full collections at exit (a full collection the finish brings on scans the whole
    session again, just before them), then resumed."""
    pytester.makeconftest(
        """
        import atexit, gc, pytest
        seen = []
        def on_gc(phase, info):
            if phase == "start" and info["generation"] == 2 and not gc.isenabled():
                seen.append("collected-while-paused")
        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(session):
            seen.append(f"finish:{gc.isenabled()}")
            gc.callbacks.append(on_gc)
        @pytest.hookimpl(trylast=True)
        def pytest_terminal_summary(terminalreporter):
            seen.append(f"summary:{gc.isenabled()}")
        atexit.register(lambda: print("GC-STATES", seen + [f"exit:{gc.isenabled()}"]))
        """
    )
    pytester.makepyfile("def test_ok(): pass")
    for name, args in {"serial": ["-p", "no:xdist"], "n2": ["-n", "2"]}.items():
        result = pytester.runpytest_subprocess(f"--dome-run-id=gc-{name}", *args)
        assert result.ret == 0
        (line,) = [line for line in result.stdout.lines if line.startswith("GC-STATES")]
        states = ast.literal_eval(line.removeprefix("GC-STATES "))
        # pytest's own collections at exit (asked for; pytest 8.3 has none, they came
        # with 8.4's unraisable-exception cleanup) run while it is paused, and it is
        # resumed after them, for the interpreter's exit.
        assert states[:2] == ["finish:False", "summary:False"] and states[-1] == "exit:True"
        assert set(states[2:-1]) == ({"collected-while-paused"} if pytest.version_tuple >= (8, 4) else set())


def test_an_in_process_run_leaves_the_collector_as_it_found_it(pytester: pytest.Pytester) -> None:
    import gc

    pytester.makepyfile("def test_ok(): pass")
    assert gc.isenabled()
    assert pytester.runpytest("--dome-run-id=on", "-p", "no:xdist").ret == 0
    assert gc.isenabled()
    gc.disable()
    try:
        assert pytester.runpytest("--dome-run-id=off", "-p", "no:xdist").ret == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
