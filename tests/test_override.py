"""Human override of NEEDS_HUMAN, dome status, and the xtrlv2 envelope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_dome.cli.main import main
from pytest_dome.runfolder.audit import verify_run

REASON = "risk accepted: the skipped UI tests are tracked in REL-42"


def gated(pytester: pytest.Pytester, run_id: str, *args: str) -> Path:
    pytester.makepyfile("def test_ok(): pass")
    pytester.runpytest(f"--dome-run-id={run_id}", *args)
    return pytester.path / "ops/runtime/runs" / run_id


def snapshot(run: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}


def test_needs_human_is_overridden_once(pytester: pytest.Pytester, dome_run, capsys) -> None:
    run = gated(pytester, "r1", "--dome-risk-threshold=0")
    assert main(["status", str(run)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "hold (run r1: NEEDS_HUMAN)"
    gate_before = (run / "gate/gate.decision.json").read_bytes()
    assert main(["override", str(run), "--actor", "release-manager", "--reason", REASON]) == 0
    assert "promotion is now promote" in capsys.readouterr().out
    assert (run / "gate/gate.decision.json").read_bytes() == gate_before  # never rewritten
    evidence = dome_run("r1")  # verifies: hashes updated, override consistent, replays
    assert (
        evidence.promotion["action"] == "promote"
        and evidence.promotion["override"]["actor"] == "release-manager"
    )
    envelope = json.loads((run / "promotion/xtrlv2.envelope.json").read_text())
    assert (envelope["state"], envelope["override"]["actor"]) == ("promote", "release-manager")
    (line,) = (run / "promotion/overrides.jsonl").read_text().splitlines()
    assert json.loads(line)["reason"] == REASON
    assert main(["status", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "promote"
    assert main(["override", str(run), "--actor", "someone", "--reason", REASON]) == 2
    assert "already overridden by release-manager" in capsys.readouterr().err


def test_tampering_with_the_override_is_caught(pytester: pytest.Pytester, capsys) -> None:
    run = gated(pytester, "r1", "--dome-risk-threshold=0")
    assert main(["override", str(run), "--actor", "rm", "--reason", REASON]) == 0
    path = run / "promotion/overrides.jsonl"
    path.write_text(path.read_text().replace("REL-42", "REL-43"))
    assert "EVIDENCE_HASH_MISMATCH" in {p.code for p in verify_run(run)}
    assert main(["status", str(run)]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dome-verify=python -c 'raise SystemExit(1)'"], "a rejection cannot be overridden"),
        ([], "is APPROVE: it is promoted, no override needed"),
    ],
    ids=["reject", "approve"],
)
def test_only_needs_human_can_be_overridden(pytester: pytest.Pytester, capsys, args, message) -> None:
    run = gated(pytester, "r1", *args)
    before = snapshot(run)
    assert main(["override", str(run), "--actor", "rm", "--reason", REASON]) == 2
    assert message in capsys.readouterr().err
    assert snapshot(run) == before


@pytest.mark.parametrize(
    ("actor", "reason", "message"),
    [
        ("rm", "", "at least three words"),
        ("rm", "fine", "at least three words"),
        ("", REASON, "--actor must be"),
        ("r\x1bm", REASON, "--actor must be"),
        ("rm", REASON + "\x00", "printable"),
        ("x" * 101, REASON, "--actor must be"),
    ],
)
def test_bad_actor_or_reason_changes_nothing(
    pytester: pytest.Pytester, capsys, actor, reason, message
) -> None:
    run = gated(pytester, "r1", "--dome-risk-threshold=0")
    before = snapshot(run)
    assert main(["override", str(run), "--actor", actor, "--reason", reason]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert snapshot(run) == before


def test_override_refused_on_tampered_or_locked_or_missing_runs(pytester: pytest.Pytester, capsys) -> None:
    run = gated(pytester, "r1", "--dome-risk-threshold=0")
    lock = run.with_name(".r1.lock")
    import os

    lock.write_text(f"{os.getppid()}\n")
    assert main(["override", str(run), "--actor", "rm", "--reason", REASON]) == 2
    assert "is in use by another session" in capsys.readouterr().err
    lock.unlink()
    (run / "plan.json").write_text("{}")
    assert main(["override", str(run), "--actor", "rm", "--reason", REASON]) == 2
    assert (
        f"{run}: EVIDENCE_HASH_MISMATCH plan.json: sha256 differs from the manifest"
        in capsys.readouterr().err
    )
    assert (
        main(
            ["override", "no-such-run", "--runtime-dir", str(run.parent), "--actor", "rm", "--reason", REASON]
        )
        == 2
    )
    assert "no run 'no-such-run'" in capsys.readouterr().err


def test_envelope_carries_reason_codes_unchanged(pytester: pytest.Pytester, dome_run) -> None:
    gated(pytester, "r1", "--dome-verify=python -c 'raise SystemExit(2)'")
    run = dome_run()
    envelope = json.loads((run.path / "promotion/xtrlv2.envelope.json").read_text())
    assert envelope["state"] == "stop" and envelope["gate_status"] == "REJECT"
    assert envelope["reason_codes"] == run.gate["reason_codes"]
    assert envelope["decision_digest"] == run.gate["decision_digest"]
    assert envelope["input_digest"] == run.plan["input_digest"] and envelope["override"] is None
