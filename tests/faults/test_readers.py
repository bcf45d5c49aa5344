"""The crafted run folders of issue 20 (section 4), one by one: each reader refuses them
in one line with a non-zero exit, never with a traceback or a hang."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .fuzzruns import REASON, Runs, cli, deadline, rehash

TASK = "task_results/test_a.py_test_ok-"


def _first(run: Path, prefix: str) -> Path:
    return next(p for p in sorted(run.rglob("*")) if p.relative_to(run).as_posix().startswith(prefix))


def nan_risk_weight(run: Path) -> None:
    plan = run / "plan.json"
    plan.write_text(plan.read_text().replace('"risk_weight": 0.0', '"risk_weight": NaN', 1))


def nan_duration(run: Path) -> None:
    result = _first(run, TASK)
    text = result.read_text()
    at = text.rindex('"duration_s": ')  # the task's own, after its attempts'
    end = text.index(",", at)
    result.write_text(text[:at] + '"duration_s": NaN' + text[end:])


def deep_plan(run: Path) -> None:
    (run / "plan.json").write_bytes(b"[" * 100_000)


def fifo_result(run: Path) -> None:
    result = _first(run, TASK)
    result.unlink()
    os.mkfifo(result)


def huge_result(run: Path) -> None:
    with open(_first(run, TASK), "r+b") as fh:
        fh.truncate(5 << 20)  # sparse, over the 4 MiB of a task result


CRAFTED: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # name: (mutation, file, why)
    "NaN risk_weight": (nan_risk_weight, "plan.json", "NaN is not a number JSON allows"),
    "NaN duration_s": (nan_duration, TASK, "NaN is not a number JSON allows"),
    "100,000 [": (deep_plan, "plan.json", "nested deeper than 64 levels"),
    "FIFO": (fifo_result, TASK, "not a regular file (a FIFO)"),
    "5 MiB result": (huge_result, TASK, "larger than the 4 MiB a reader takes (5,242,880 bytes)"),
}


@pytest.fixture(params=sorted(CRAFTED))
def crafted(request: pytest.FixtureRequest, runs: Runs, tmp_path: Path) -> tuple[Path, str, str]:
    """A copy of the approved run, crafted, with its manifest re-hashed (an attacker's
    run: every hash matches)."""
    spoil, rel, why = CRAFTED[request.param]
    run = tmp_path / "runs/crafted"
    shutil.copytree(runs.runtime / "approve", run)
    spoil(run)
    rehash(run)
    return run, rel, why


def one_line(code: int, out: str, err: str, command: str) -> str:
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith(f"dome {command}: "), (code, out, err)
    return lines[0]


def test_dome_verify_names_the_file_and_what_is_wrong(crafted: tuple[Path, str, str]) -> None:
    run, rel, why = crafted
    with deadline(30):
        code, out, err = cli(["verify", str(run)])
    assert code == 1 and not out and "Traceback" not in err
    assert f"EVIDENCE_INVALID {rel}" in err and why in err, err
    assert all(line.startswith("dome verify: EVIDENCE_") for line in err.splitlines())


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "{run}"],
        ["diff", "{approve}", "{run}"],
        ["diff", "{run}", "{approve}"],
        ["status", "{run}"],
        ["report", "{run}"],
        ["override", "{run}", "--actor", "rm", "--reason", REASON],
        ["verify-attestation", "--unsigned", "{att}/vsa.statement.json", "--run", "{run}"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_every_reader_refuses_in_one_line(runs: Runs, crafted: tuple[Path, str, str], argv) -> None:
    run, _rel, why = crafted
    names = {"run": run, "approve": runs.runtime / "approve", "att": runs.att}
    with deadline(30):
        code, out, err = cli([part.format(**names) for part in argv])
    if argv[0] == "verify-attestation":  # its problems on stderr, one line each
        assert code == 1 and "Traceback" not in out + err and why in err, (out, err)
    else:
        assert why in one_line(code, out, err, argv[0])


def test_dome_merge_refuses_a_crafted_shard(runs: Runs, tmp_path: Path) -> None:
    shard = tmp_path / "s1"
    shutil.copytree(runs.runtime / "s1", shard)
    deep_plan(shard)
    rehash(shard)
    code, out, err = cli(
        ["merge", "--run-id", "m", "--out", str(tmp_path / "m"), str(shard), str(runs.runtime / "s2")]
    )
    problem = "EVIDENCE_INVALID plan.json: nested deeper than 64 levels"  # as dome verify says it
    assert one_line(code, out, err, "merge") == f"dome merge: {shard}: {problem}"
    assert not (tmp_path / "m").exists()


def test_verify_attestation_refuses_a_deep_attestation(runs: Runs, tmp_path: Path) -> None:
    att = tmp_path / "vsa.statement.json"
    att.write_bytes(b"[" * 100_000)
    code, out, err = cli(["verify-attestation", "--unsigned", str(att)])
    assert one_line(code, out, err, "verify-attestation").endswith(f"{att}: nested deeper than 64 levels")


def test_dome_slo_counts_a_file_it_cannot_scan_and_does_not_hang(runs: Runs, tmp_path: Path) -> None:
    runtime = tmp_path / "runs"
    shutil.copytree(runs.runtime / "approve", runtime / "approve")
    os.mkfifo(runtime / "approve/extra")
    month = runs.month
    with deadline(60):
        code, out, err = cli(["slo", str(runtime), "--month", month, "--out", str(tmp_path / "slo.json")])
    assert code == 1 and not err and "SLO-4 MISSED: 1 violations" in out, (out, err)


def test_an_override_reason_holding_a_line_separator_verifies(runs: Runs, tmp_path: Path) -> None:
    """json.dumps(ensure_ascii=False) writes U+2028 and U+0085 raw, and str.splitlines
    broke overrides.jsonl there: the overridden run no longer verified."""
    run = tmp_path / "hold"
    shutil.copytree(runs.runtime / "hold", run)
    reason = "risk accepted:\u2028tracked\x85in REL-1"
    assert cli(["override", str(run), "--actor", "rm", "--reason", reason])[0] == 0
    code, out, err = cli(["verify", str(run)])
    assert (code, err) == (0, "") and "verified: NEEDS_HUMAN" in out, err


def test_a_fifo_in_place_of_the_lock_does_not_hang_dome_override(runs: Runs, tmp_path: Path) -> None:
    run = tmp_path / "hold"
    shutil.copytree(runs.runtime / "hold", run)
    os.mkfifo(tmp_path / ".hold.lock")  # no pid in it: a stale lock, taken over
    with deadline(30):
        code, out, err = cli(["override", str(run), "--actor", "rm", "--reason", REASON])
    assert (code, err) == (0, "") and "promotion is now promote" in out, err


@pytest.mark.parametrize("spoil", ["NaN risk_weight", "100,000 [", "FIFO"])
def test_a_crafted_baseline_stops_the_session_in_one_line(
    pytester: pytest.Pytester, runs: Runs, spoil: str
) -> None:
    """It was an INTERNALERROR (NaN) or a RecursionError (nesting), or a hang (FIFO)."""
    mutation, rel, why = CRAFTED[spoil]
    base = pytester.path / "ops/runtime/runs/base"
    shutil.copytree(runs.runtime / "approve", base)
    mutation(base)
    rehash(base)
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "--dome-baseline=base", timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(
        f"ERROR: --dome-baseline: {base}: EVIDENCE_INVALID {rel}"
    )
    assert why in errors[0], errors
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not (pytester.path / "ops/runtime/runs/r1").exists()


ONE_READER = [  # every command that reads a run, {run} the crafted one
    ["replay", "{run}"],
    ["report", "{run}"],
    ["status", "{run}"],
    ["override", "{run}", "--actor", "rm", "--reason", REASON],
    ["attest", "{run}", "--out", "{tmp}/att"],
    ["diff", "{run}", "{approve}"],  # the crafted run as the baseline
    ["diff", "{approve}", "{run}"],  # and as the run compared with it
]


def test_one_reader_gives_every_command_the_same_line(
    pytester: pytest.Pytester, runs: Runs, crafted: tuple[Path, str, str], tmp_path: Path
) -> None:
    """One reader, one set of messages: the line `dome verify` gives for the crafted
    file is, after the run folder, the line every other reader gives (and the session
    given the run as its baseline)."""
    run, rel, why = crafted
    with deadline(30):
        code, out, err = cli(["verify", str(run)])
    problem = one_line(code, out, err, "verify").removeprefix("dome verify: ")
    assert problem.startswith(f"EVIDENCE_INVALID {rel}") and problem.endswith(why), problem
    names = {"run": run, "approve": runs.runtime / "approve", "tmp": tmp_path}
    for argv in ONE_READER:
        with deadline(30):
            code, out, err = cli([part.format(**names) for part in argv])
        assert one_line(code, out, err, argv[0]) == f"dome {argv[0]}: {run}: {problem}", argv
    att = f"{runs.att}/vsa.statement.json"
    code, out, err = cli(["verify-attestation", "--unsigned", att, "--run", str(run)])
    assert code == 1 and f"dome verify-attestation: {att}: run: {run}: {problem}" in err.splitlines(), err
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", f"--dome-baseline={run}", timeout=120)
    errors = [line for line in result.stderr.lines if line.strip()]
    assert (result.ret, errors) == (
        pytest.ExitCode.USAGE_ERROR,
        [f"ERROR: --dome-baseline: {run}: {problem}"],
    )
