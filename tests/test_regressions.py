"""Bugs found in review, each pinned by the smallest run that showed it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from pytest_dome.cli.main import main

if TYPE_CHECKING:
    from conftest import Mode

FLAKY_MODULE_FIXTURE = """
import os, pytest
@pytest.fixture(scope="module")
def flaky_mod():
    try:
        os.close(os.open("failed-once", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return 1
    raise RuntimeError("transient")
def test_a(flaky_mod): pass
def test_b(flaky_mod): pass
"""


def test_retry_sets_up_a_failed_module_fixture_again(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(FLAKY_MODULE_FIXTURE)
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    run = dome_run()
    assert run.gate["status"] == "APPROVE"
    flaky = {node.rsplit("::", 1)[1]: t["flaky"] for node, t in run.tasks.items()}
    assert flaky == {"test_a": True, "test_b": False}


def test_collection_error_in_a_packet_path_rejects(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(**{"a/test_a": "def test_a(): pass", "b/test_b": "import no_such_module"})
    (pytester.path / "p.json").write_text(
        json.dumps(
            {
                "schema_version": "1.0.0",
                "kind": "packet",
                "packet_id": "p",
                "tasks": [
                    {"kind": "tests", "id": "a", "select": {"paths": ["a"]}},
                    {"kind": "tests", "id": "b", "select": {"paths": ["b"]}},
                ],
            }
        )
    )
    assert pytester.runpytest("--dome-run-id=r1", "--dome-packet=p.json").ret != 0
    run = dome_run()
    assert run.gate["status"] == "REJECT" and "COLLECTION_ERROR" in run.gate["reason_codes"]


def test_tx_without_dist_runs_serially_and_approves(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\n")
    assert pytester.runpytest_subprocess("--dome-run-id=r1", "--tx=popen").ret == 0
    assert dome_run().gate["status"] == "APPROVE"


def test_last_failed_plans_only_what_runs(pytester: pytest.Pytester, dome_run, monkeypatch) -> None:
    pytester.makepyfile("import os\ndef test_ok(): pass\ndef test_env(): assert os.environ.get('FIXED')\n")
    pytester.runpytest("--dome-run-id=r1", "-p", "cacheprovider")
    monkeypatch.setenv("FIXED", "1")
    assert pytester.runpytest("--dome-run-id=r2", "--lf").ret == 0
    run = dome_run("r2")
    assert run.gate["status"] == "APPROVE" and [t["node_id"] for t in run.plan["tasks"]] == [
        "test_last_failed_plans_only_what_runs.py::test_env"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "2", "--dist", "each"], "--dist each runs every test on every worker"),
        (["--dome-packet=p.json", "-k", "test_a"], "declares the run's tasks; -k/-m would leave some"),
    ],
    ids=["dist-each", "packet-with-k"],
)
def test_options_that_would_make_evidence_lie_are_refused(pytester: pytest.Pytester, args, message) -> None:
    pytester.makepyfile("def test_a(): pass")
    (pytester.path / "p.json").write_text(
        json.dumps(
            {
                "schema_version": "1.0.0",
                "kind": "packet",
                "packet_id": "p",
                "tasks": [{"kind": "tests", "id": "t"}],
            }
        )
    )
    result = pytester.runpytest_subprocess("--dome-run-id=r1", *args, "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: *{message}*"])


def test_failure_then_skip_is_flaky(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(
        """
        import os, pytest
        def test_x():
            try:
                os.close(os.open("seen", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pytest.skip("environment went away")
            assert False
        """
    )
    pytester.runpytest("--dome-run-id=r1")
    run = dome_run()
    (task,) = run.tasks.values()
    assert task["outcome"] == "skipped" and task["flaky"] is True
    assert "TASK_FLAKY" in run.gate["reason_codes"]


TEARDOWN_FAILS_ONCE = """
import os, pytest
@pytest.fixture
def td():
    yield
    try:
        os.close(os.open("seen", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return
    raise RuntimeError("teardown once")
def test_td(td): pass
"""


def test_retried_teardown_error_is_one_junit_testcase(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEARDOWN_FAILS_ONCE + "def test_ok(): pass\n")
    pytester.runpytest("--dome-run-id=r1", "--junitxml=j.xml")
    xml = (pytester.path / "j.xml").read_text()
    assert xml.count("<testcase ") == 2 and 'tests="2"' in xml


def test_a_result_written_as_the_session_runs_holds_every_attempt(
    pytester: pytest.Pytester, dome_run, mode: Mode
) -> None:
    """Result files are written while the session runs; a task whose teardown failed
    and was retried ends with a file that holds both attempts, and its hash in
    the manifest is that file's."""
    pytester.makepyfile(TEARDOWN_FAILS_ONCE + "def test_fail(): assert False\n")
    pytester.runpytest("--dome-run-id=r1", *mode.args)
    run = dome_run()  # every file hashed in the manifest, the decision replays
    tasks = {node.rsplit("::", 1)[1]: t for node, t in run.tasks.items()}
    td = tasks["test_td"]
    assert [(a["outcome"], a["when"]) for a in td["attempts"]] == [("error", "teardown"), ("passed", "call")]
    assert td["outcome"] == "passed" and td["flaky"] is True
    assert [a["outcome"] for a in tasks["test_fail"]["attempts"]] == ["failed", "failed"]
    assert run.gate["status"] == "REJECT"


def test_empty_shard_exits_zero_and_merge_exit_follows_the_gate(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_a(): pass")
    folders = []
    for k in range(1, 5):
        result = pytester.runpytest(f"--dome-run-id=s{k}", f"--dome-shard={k}/4")
        assert result.ret == 0
        folders.append(str(pytester.path / f"ops/runtime/runs/s{k}"))
    out = str(pytester.path / "ops/runtime/runs/m")
    assert main(["merge", "--run-id", "m", "--out", out, *folders]) == 0
    assert dome_run("m").manifest["exit_status"] == 0


CONSTANT_FACTOR = """
def pytest_dome_risk_factors(config, results):
    return [{"name": "coverage_gap", "weight": 60, "value": 1.0}]
"""


def test_shards_keep_plugin_factors(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makeconftest(CONSTANT_FACTOR)
    pytester.makepyfile("".join(f"def test_{i}(): pass\n" for i in range(9)))
    pytester.runpytest("--dome-run-id=whole")
    folders = []
    for k in (1, 2, 3):
        pytester.runpytest(f"--dome-run-id=s{k}", f"--dome-shard={k}/3")
        folders.append(str(pytester.path / f"ops/runtime/runs/s{k}"))
    main(["merge", "--run-id", "m", "--out", str(pytester.path / "ops/runtime/runs/m"), *folders])
    whole, merged = dome_run("whole"), dome_run("m")
    assert whole.gate["status"] == merged.gate["status"] == "NEEDS_HUMAN"
    assert whole.gate["decision_digest"] == merged.gate["decision_digest"]


def test_nan_and_infinity_in_json_inputs_are_one_line_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    (pytester.path / "policy.json").write_text(
        '{"schema_version": "1.0.0", "kind": "risk.policy", "policy_id": "p", '
        '"threshold": NaN, "factors": {}}'
    )
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "--dome-policy=policy.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: risk policy policy.json is not valid JSON (NaN is not a number*"])


def test_packet_task_errors_name_the_field(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    (pytester.path / "p.json").write_text(
        json.dumps(
            {
                "schema_version": "1.0.0",
                "kind": "packet",
                "packet_id": "p",
                "tasks": [{"kind": "command", "id": "x", "argv": ["true"], "timout": 5}],
            }
        )
    )
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "--dome-packet=p.json")
    result.stderr.fnmatch_lines(["ERROR: packet p.json does not match *: tasks/0*'timout' was unexpected*"])


def test_dome_task_marker_needs_real_booleans(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n@pytest.mark.dome_task(critical='no')\ndef test_a(): pass\n")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *dome_task critical='no' is not True or False"])


def test_verify_reports_a_run_that_never_committed(tmp_path, capsys) -> None:
    run = tmp_path / "r1"
    run.mkdir()
    (run / "run.started.json").write_text("{}")
    assert main(["verify", str(run)]) == 1
    assert "EVIDENCE_MISSING run.manifest.json: the run started but never committed" in (
        capsys.readouterr().err
    )


def test_override_actor_is_checked_as_recorded(pytester: pytest.Pytester, capsys, monkeypatch) -> None:
    pytester.makepyfile("def test_ok(): pass")
    pytester.runpytest("--dome-run-id=r1", "--dome-risk-threshold=0")
    run = str(pytester.path / "ops/runtime/runs/r1")
    reason = "risk accepted for this release candidate"
    assert main(["override", run, "--actor", "al\tice", "--reason", reason]) == 2
    monkeypatch.setenv("DEPLOY_TOKEN", "abcdefgh")
    assert main(["override", run, "--actor", "x" * 92 + "abcdefgh", "--reason", reason]) == 2
    assert "--actor must be" in capsys.readouterr().err
    assert main(["verify", run]) == 0


def test_redacted_url_credentials_are_not_found_again() -> None:
    from pytest_dome.core.redact import Redactor

    once = Redactor(environ={}).redact("https://deploy:hunter2hunter2@example.com")
    again = Redactor(environ={})
    assert again.redact(once) == once and not again.counts


def test_secret_in_a_failing_test_id_stays_off_the_terminal(pytester: pytest.Pytester, mode: Mode) -> None:
    key = "ghp_" + "K" * 36
    pytester.makepyfile(f"import pytest\n@pytest.mark.parametrize('k', ['{key}'])\ndef test_x(k): assert 0\n")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", *mode.args)
    assert key not in result.stdout.str() and "test_x[[REDACTED:github_token]]" in result.stdout.str()


def test_unwritable_step_summary_is_said(pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "no" / "such" / "summary.md"))
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--dome-run-id=r1")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["dome: cannot write GITHUB_STEP_SUMMARY*"])
