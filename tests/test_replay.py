"""Replay and verify: anyone can make a run's decision again and check its evidence."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_dome.cli.main import main
from pytest_dome.config.inputs import load_policy
from pytest_dome.contracts import ssot
from pytest_dome.contracts.models import (
    EffectiveConfig,
    Execution,
    SessionFacts,
    SessionRecord,
    VerifyCommandResult,
    VerifyResults,
)
from pytest_dome.core.aggregate import TaskResult
from pytest_dome.core.decision import DecisionInputs, missing_result, outcomes_of
from pytest_dome.core.plan import Plan, PlannedTask, input_digest
from pytest_dome.runfolder.audit import verify_run
from pytest_dome.runfolder.layout import MANIFEST, STARTED
from pytest_dome.runfolder.reader import manifest_digest
from pytest_dome.runfolder.record import write_run
from pytest_dome.session import changes

if TYPE_CHECKING:
    from conftest import Mode

SUITE = """
import pytest
def test_a(): pass
def test_b(): assert 0
@pytest.mark.parametrize("x", range(4))
def test_c(x): pass
def test_s(): pytest.skip("no")
"""

SHUFFLE = """
import random
def pytest_collection_modifyitems(items):
    random.Random(20261124).shuffle(items)
"""


def codes(run_dir: Path) -> set[str]:
    return {p.code for p in verify_run(run_dir)}


@pytest.fixture
def recorded(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(SUITE)
    pytester.runpytest("--dome-run-id=r1", "--dome-verify=python -c pass")
    return pytester.path / "ops/runtime/runs/r1"


def test_a_run_in_any_mode_and_order_replays_like_a_serial_one(
    pytester: pytest.Pytester, capsys, mode: Mode
) -> None:
    pytester.makepyfile(SUITE)
    pytester.runpytest("--dome-run-id=serial", "-p", "no:xdist")
    pytester.makeconftest(SHUFFLE)
    pytester.runpytest("--dome-run-id=shuffled", *mode.args)
    runs = pytester.path / "ops/runtime/runs"
    digests = set()
    for name in ("serial", "shuffled"):
        assert main(["replay", str(runs / name)]) == 0
        assert "identical to the recorded decision" in capsys.readouterr().out
        digests.add(json.loads((runs / name / "gate/gate.decision.json").read_text())["decision_digest"])
    assert len(digests) == 1
    assert main(["replay", "--all", str(runs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["runs_replayed"], report["same_status"], report["rate"]) == (2, 2, 1.0)


def test_verify_and_replay_of_a_clean_run(recorded: Path, capsys) -> None:
    assert main(["verify", str(recorded)]) == 0
    assert "complete and intact, decision replays identically" in capsys.readouterr().out
    assert main(["verify", "r1", "--runtime-dir", str(recorded.parent), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_flipping_one_byte_in_any_evidence_file_is_caught(recorded: Path) -> None:
    files = sorted(p for p in recorded.rglob("*") if p.is_file())
    assert len(files) >= 12
    for path in files:
        original = path.read_bytes()
        data = bytearray(original)
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        found = codes(recorded)
        expected = (
            {"EVIDENCE_HASH_MISMATCH", "EVIDENCE_INVALID"}
            if path.name == MANIFEST
            else {"EVIDENCE_HASH_MISMATCH"}
        )
        assert found & expected, (path, found)
        path.write_bytes(original)
    assert codes(recorded) == set()


def test_deleting_a_task_result_is_caught(recorded: Path) -> None:
    victim = next((recorded / "task_results").iterdir())
    victim.unlink()  # one problem per file: missing (not also "the task has no result")
    found = {(p.code, p.path) for p in verify_run(recorded)}
    assert found == {("EVIDENCE_MISSING", f"task_results/{victim.name}")}
    assert main(["verify", str(recorded)]) == 1


def test_unlisted_file_is_caught(recorded: Path) -> None:
    (recorded / "gate" / "notes.txt").write_text("added later")
    assert codes(recorded) == {"EVIDENCE_UNLISTED"}


def test_links_in_the_run_folder_are_caught_and_never_followed(recorded: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.result.json").write_text("{}")
    (recorded / "gate" / "elsewhere").symlink_to(outside)  # a folder link: unlisted, not walked
    (recorded / "gate" / "copy.json").symlink_to(recorded / MANIFEST)
    found = {(p.code, p.path) for p in verify_run(recorded)}
    assert found == {("EVIDENCE_UNLISTED", "gate/elsewhere"), ("EVIDENCE_UNLISTED", "gate/copy.json")}


def test_a_listed_file_replaced_by_a_link_out_of_the_run_folder_is_caught(
    recorded: Path, tmp_path: Path
) -> None:
    victim = next((recorded / "task_results").iterdir())
    target = tmp_path / "same.json"
    target.write_bytes(victim.read_bytes())  # the very bytes: only the link is wrong
    victim.unlink()
    victim.symlink_to(target)
    found = {(p.code, p.path) for p in verify_run(recorded)}
    assert ("EVIDENCE_PATH_ESCAPE", f"task_results/{victim.name}") in found
    assert {code for code, _ in found} == {"EVIDENCE_PATH_ESCAPE"}


PARALLEL_CHECK = """
import json, sys
from pathlib import Path
from pytest_dome.runfolder import audit, speedups

run = Path(sys.argv[1])
here, check = [], audit._check_entries
def counted(run_dir, entries, present):  # the files this process checked
    here.append(len(entries))
    return check(run_dir, entries, present)
audit._check_entries = counted
found = {"serial": audit.verify_run(run, parallel=False), "parallel": audit.verify_run(run, parallel=True)}
def broken(sender, *args):
    raise SystemExit(3)  # the copy dies before it answers
speedups._in_child = broken
found["lost"] = audit.verify_run(run, parallel=True)
print(json.dumps({"here": here, **{k: [p.as_json() for p in v] for k, v in found.items()}}))
"""


def test_a_large_run_is_checked_by_two_processes_with_the_same_findings(recorded: Path) -> None:
    results = sorted((recorded / "task_results").iterdir())
    data = bytearray(results[-1].read_bytes())  # in the half the second process checks
    data[len(data) // 2] ^= 0x01
    results[-1].write_bytes(bytes(data))
    results[0].unlink()  # and one in the first half
    # In a fresh process: this one has xdist's threads, and verify forks only without any.
    done = subprocess.run(
        [sys.executable, "-c", PARALLEL_CHECK, str(recorded)], capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout)
    listed, first = found["here"][0], found["here"][1]
    assert found["here"] == [listed, first, first, listed - first] and 0 < first < listed
    assert found["parallel"] == found["serial"] == found["lost"]
    assert {p["code"] for p in found["serial"]} == {"EVIDENCE_HASH_MISMATCH", "EVIDENCE_MISSING"}
    assert any(p["path"] == f"task_results/{results[-1].name}" for p in found["parallel"])


def resign(run_dir: Path, edit) -> None:
    """Tamper consistently: edit the manifest and recompute its digest."""
    path = run_dir / MANIFEST
    doc = json.loads(path.read_text())
    edit(doc)
    doc["manifest_digest"] = manifest_digest(doc)
    path.write_text(json.dumps(doc))


def test_a_rewritten_decision_does_not_replay(recorded: Path, capsys) -> None:
    gate_path = recorded / "gate/gate.decision.json"
    gate = json.loads(gate_path.read_text())
    gate["checks"]["tasks"]["failed"] = 0
    gate_path.write_text(json.dumps(gate, indent=2, sort_keys=True))
    from pytest_dome.core.canonical import sha256_hex

    def rehash(doc):
        for entry in doc["artifacts"]:
            if entry["path"] == "gate/gate.decision.json":
                entry["sha256"] = sha256_hex(gate_path.read_bytes())
                entry["bytes"] = len(gate_path.read_bytes())

    resign(recorded, rehash)
    assert "decision_digest: does not match" in str(verify_run(recorded))
    assert main(["replay", str(recorded)]) == 1
    out = capsys.readouterr().out
    assert (
        "differs from the recorded decision" in out and "checks.tasks.failed: recorded 0, replayed 1" in out
    )


def test_manifest_listing_a_path_outside_is_caught(recorded: Path) -> None:
    def escape(doc):
        doc["artifacts"][0]["path"] = "task_results/../../../../etc/passwd"

    resign(recorded, escape)
    assert "EVIDENCE_INVALID" in codes(recorded)  # the schema forbids '..'


def test_what_if_prints_and_never_writes(recorded: Path, capsys) -> None:
    before = {p: p.read_bytes() for p in recorded.rglob("*") if p.is_file()}
    assert main(["replay", str(recorded), "--threshold", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["what_if"] is True and result["replayed"]["threshold"] == 0
    assert result["recorded"]["status"] == "REJECT" and result["replayed"]["status"] == "REJECT"
    assert {p: p.read_bytes() for p in recorded.rglob("*") if p.is_file()} == before


SKIPPY = "import pytest\ndef test_ok(): pass\ndef test_later(): pytest.skip('later')\n"


def policy_file(path: Path, factors: dict | None = None, **changes: object) -> Path:
    """The built-in policy with ``changes``, and ``factors`` merged over its weights."""
    doc = ssot.default_policy_document()
    doc["factors"].update(factors or {})
    doc.update(changes)
    path.write_text(json.dumps(doc))
    return path


def test_what_if_under_another_policy_gives_that_policys_decision(
    pytester: pytest.Pytester, tmp_path: Path, capsys
) -> None:
    pytester.makepyfile(SKIPPY)
    pytester.runpytest("--dome-run-id=r1", "--dome-verify=python -c pass")
    run = pytester.path / "ops/runtime/runs/r1"
    capsys.readouterr()  # the inner session's output
    assert dome_status(run) == ("APPROVE", 10)  # one task of two skipped: 20 * 0.5
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    # skipped tasks weigh 100: 100 * 0.5 = 50, not below the threshold of 50
    strict = policy_file(
        tmp_path / "strict.json", policy_id="strict", factors={"skipped_rate": {"weight": 100}}
    )
    assert main(["replay", str(run), "--policy", str(strict)]) == 0
    assert capsys.readouterr().out == (
        "what-if for run r1: NEEDS_HUMAN (recorded APPROVE); score 50 against threshold 50; "
        "ALL_CHECKS_PASSED, RISK_AT_OR_ABOVE_THRESHOLD, TASKS_SKIPPED (not written)\n"
    )
    # with --threshold too, that threshold wins over the file's
    assert main(["replay", str(run), "--policy", str(strict), "--threshold", "60", "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)["replayed"]
    assert (replayed["status"], replayed["score"], replayed["threshold"]) == ("APPROVE", 50, 60)
    assert "RISK_BELOW_THRESHOLD" in replayed["reason_codes"]
    # the file's own threshold: 5 makes the recorded policy's score of 10 too high
    low = policy_file(tmp_path / "low.json", threshold=5)
    assert main(["replay", str(run), "--policy", str(low), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)["replayed"]
    assert (replayed["status"], replayed["score"], replayed["threshold"]) == ("NEEDS_HUMAN", 10, 5)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing written
    assert main(["replay", str(run)]) == 0  # and the recorded decision still replays
    assert "identical to the recorded decision" in capsys.readouterr().out


def test_no_policy_turns_a_reject_into_an_approve(recorded: Path, tmp_path: Path, capsys) -> None:
    lenient = policy_file(
        tmp_path / "lenient.json", threshold=100, factors={"task_failure_rate": {"weight": 0}}
    )
    assert main(["replay", str(recorded), "--policy", str(lenient), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)["replayed"]
    assert replayed["status"] == "REJECT" and "TASK_FAILED" in replayed["reason_codes"]


def test_a_bad_policy_file_is_one_line(recorded: Path, tmp_path: Path, capsys) -> None:
    bad = policy_file(tmp_path / "bad.json", threshold=101)
    assert main(["replay", str(recorded), "--policy", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"dome replay: risk policy {bad} does not match ")


def dome_status(run: Path) -> tuple[str, float]:
    gate = json.loads((run / "gate/gate.decision.json").read_text())
    return gate["status"], gate["risk"]["score"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "not a run folder"),
        (lambda d: (d / MANIFEST).write_text("{"), "not readable JSON"),
        (
            lambda d: (d / MANIFEST).write_text('{"schema_version": "0.9.0"}'),
            "schema version '0.9.0' is not supported",
        ),
    ],
    ids=["not-a-run", "truncated", "old-version"],
)
def test_bad_input_is_one_line(tmp_path: Path, capsys, setup, message: str) -> None:
    run = tmp_path / "r"
    run.mkdir()
    setup(run)
    assert main(["replay", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert [p.name for p in run.iterdir()] == ([] if message == "not a run folder" else [MANIFEST])


def test_unknown_run_id(tmp_path: Path, capsys) -> None:
    assert main(["verify", "nope", "--runtime-dir", str(tmp_path)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


# --- the SLO-2 figure over many recorded runs ---------------------------------

POLICY = load_policy(None, "builtin")
NO_CHANGE = changes.unknown()
CONFIG = EffectiveConfig(
    runtime_dir="runs",
    policy_source="builtin",
    threshold_source="policy",
    risk_threshold=50,
    fail_on=("REJECT",),
    verify=(("make", "lint"),),
    verify_timeout_s=60,
    packet_source=None,
    base_ref=None,
    max_workers=2,
    max_retries=1,
)


def generated_run(runtime: Path, n: int, rnd: random.Random) -> None:
    tasks = tuple(
        PlannedTask(
            task_id=f"t{i:03d}",
            kind="test",
            node_id=f"t.py::test_{i}",
            entry=None,
            critical=rnd.random() < 0.1,
            risk_weight=rnd.choice([0, 0, 5, 20]),
        )
        for i in range(rnd.randint(0, 12))
    )
    policy = POLICY.model_copy(update={"threshold": rnd.choice([0, 10, 30, 50, 100])})
    plan = Plan(packet_id=None, input_digest=input_digest(None, NO_CHANGE, policy, tasks), tasks=tasks)
    outcomes = ["passed"] * 6 + ["failed", "error", "skipped", "xfailed", "xpassed"]
    results = tuple(
        TaskResult(
            task_id=t.task_id,
            node_id=t.node_id,
            outcome=(o := rnd.choice(outcomes)),
            flaky=o == "passed" and rnd.random() < 0.2,
            duration_s=0.1,
            summary=None,
            attempts=(),
        )
        for t in tasks
        if rnd.random() < 0.97
    )
    verify = VerifyResults(
        run_id=f"g{n}",
        timeout_s=60,
        commands=tuple(
            VerifyCommandResult(
                argv=("make", "lint"),
                status=rnd.choice(["passed", "passed", "failed"]),
                exit_code=0,
                duration_s=1,
                output_tail="",
            )
            for _ in range(rnd.randint(0, 2))
        ),
    )
    facts = SessionFacts(interrupted=rnd.random() < 0.05, worker_crashes=int(rnd.random() < 0.05))
    inputs = DecisionInputs(
        run_id=f"g{n}",
        plan=plan,
        change_set=NO_CHANGE,
        packet_document=None,
        policy=policy,
        outcomes=outcomes_of(results),
        verify=verify,
        session=SessionRecord(run_id=f"g{n}", facts=facts),
    )
    write_run(
        runtime / f"g{n}",
        inputs,
        results=(*results, *(missing_result(t) for t in tasks if t.task_id not in inputs.outcomes)),
        started_at="2026-11-24T10:00:00Z",
        execution=Execution(mode="xdist", workers=2),
        effective_config=CONFIG,
        exit_status=0,
    )


def test_200_written_runs_round_trip_through_replay_all(tmp_path: Path, capsys) -> None:
    """A round trip: write_run decides with gate.evaluate and replay decides again with
    it, in this process, from the files: every input the decision needs is written
    and read back. That another process on another machine agrees is SLO-2's test
    below."""
    rnd = random.Random(7)
    for n in range(200):
        generated_run(tmp_path, n, rnd)
    statuses = {
        json.loads((tmp_path / f"g{n}/gate/gate.decision.json").read_text())["status"] for n in range(200)
    }
    assert statuses == {"APPROVE", "NEEDS_HUMAN", "REJECT"}
    assert main(["replay", "--all", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "200/200 replayed runs gave the same gate status (100.00%" in out


def test_slo2_a_run_moved_to_another_machine_replays_identically_in_another_process(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SLO-2 as it is meant: a run made by one process, its folder moved to another
    path (as another machine's archive of runs), replayed there by `dome replay` in
    another process with another hash seed, time zone and locale."""
    pytester.makepyfile(SUITE)
    pytester.runpytest_subprocess("--dome-run-id=r1", "--dome-verify=python -c pass")
    made = pytester.path / "ops/runtime/runs/r1"
    recorded = json.loads((made / "gate/gate.decision.json").read_text())
    archive = tmp_path_factory.mktemp("another-machine") / "archive"
    archive.mkdir()
    shutil.move(made, archive / "r1")
    assert not made.exists()
    env = {**os.environ, "PYTHONHASHSEED": "4242", "TZ": "Pacific/Kiritimati", "LC_ALL": "C"}

    def dome(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_dome", *args], cwd=archive, env=env, capture_output=True, text=True
        )

    replayed = dome("replay", "r1", "--runtime-dir", ".", "--json")
    assert replayed.returncode == 0, replayed.stderr
    result = json.loads(replayed.stdout)
    assert result["identical"] is True and result["differences"] == []
    assert result["replayed"]["decision_digest"] == recorded["decision_digest"]
    assert result["replayed"]["status"] == recorded["status"] == "REJECT"
    assert dome("verify", str(archive / "r1")).returncode == 0  # hashes, completeness, replay
    assert dome("replay", "--all", ".").stdout.startswith("determinism (SLO-2): 1/1 replayed runs")


def test_results_written_during_the_session_are_listed_and_strays_removed(tmp_path: Path) -> None:
    from pytest_dome.core.aggregate import Attempt, render_task_result
    from pytest_dome.runfolder.layout import task_result_path
    from pytest_dome.runfolder.writer import TaskResultFiles

    tasks = tuple(PlannedTask(t, "test", f"t.py::{t}", None, False, 0.0) for t in ("a", "b"))
    fail = Attempt(1, "failed", "call", 0.1, None, "boom")
    passed = Attempt(2, "passed", "call", 0.1, None, None)
    early_a = TaskResult("a", "t.py::a", "passed", False, 0.1, None, (passed._replace(number=1),))
    early_b = TaskResult("b", "t.py::b", "failed", False, 0.1, "boom", (fail,))
    final_b = TaskResult("b", "t.py::b", "passed", True, 0.2, None, (fail, passed))  # gained an attempt
    run_dir = tmp_path / "r"
    files = TaskResultFiles(run_dir)
    for record in (early_a, early_b, early_b._replace(task_id="stray")):
        files.write(record.task_id, render_task_result("r", record))
    written = files.finish()
    inode = {t: (run_dir / task_result_path(t)).stat().st_ino for t in ("a", "b", "stray")}
    plan = Plan(None, input_digest(None, NO_CHANGE, POLICY, tasks), tasks)
    inputs = DecisionInputs(
        run_id="r",
        plan=plan,
        change_set=NO_CHANGE,
        packet_document=None,
        policy=POLICY,
        outcomes=outcomes_of((early_a, final_b)),
        verify=VerifyResults(run_id="r", timeout_s=60, commands=()),
        session=SessionRecord(run_id="r", facts=SessionFacts()),
    )
    write_run(
        run_dir,
        inputs,
        # as the finish hands them over: a generator that reads `written` as it goes
        results=(r for r in (early_a, final_b) if r.task_id not in written or r is final_b),
        written=written,
        started_at="2026-11-24T10:00:00Z",
        execution=Execution(mode="serial", workers=1),
        effective_config=CONFIG,
        exit_status=0,
    )
    assert (run_dir / task_result_path("a")).stat().st_ino == inode["a"]  # kept, not written again
    assert (run_dir / task_result_path("b")).stat().st_ino != inode["b"]  # rewritten
    assert json.loads((run_dir / task_result_path("b")).read_text())["flaky"] is True
    assert not (run_dir / task_result_path("stray")).exists()  # not a planned task id
    assert verify_run(run_dir) == []


@pytest.mark.parametrize("command", ["replay", "status", "report"])
def test_a_run_killed_before_it_decided_is_named_so(tmp_path: Path, capsys, command: str) -> None:
    run = tmp_path / "r"
    run.mkdir()
    (run / STARTED).write_text('{"kind": "run.started"}\n')
    assert main([command, str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    killed = "the run started but never committed a decision (killed?)"
    assert err == [f"dome {command}: {run}: EVIDENCE_MISSING {MANIFEST}: {killed}"]
