"""The pure core on generated data: gate + promotion, and `dome verify` / `dome replay`.

Imports pytest_dome lazily (inside the functions), so ``bench.py --help`` works
without it. Everything here uses the public functions the plugin itself uses:
``gate.gate_decision``, ``gate.promotion_decision`` and ``run.write_run``.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

OUTCOMES = ("passed",) * 90 + ("skipped",) * 4 + ("xfailed",) * 2 + ("failed", "error", "xpassed", "passed")


def gate_inputs(n: int, seed: int = 20261124) -> Any:
    """GateInputs with ``n`` task verdicts: mostly passed, some of every other outcome."""
    from pytest_dome.contracts.models import VerifyCheck
    from pytest_dome.core.gate import GateInputs, TaskVerdict

    rnd = random.Random(seed)
    tasks = [
        TaskVerdict(
            task_id=f"t{i:06d}",
            outcome=(o := rnd.choice(OUTCOMES)),  # type: ignore[arg-type]
            flaky=o == "passed" and rnd.random() < 0.01,
            critical=rnd.random() < 0.05,
            risk_weight=rnd.choice((0.0, 0.0, 0.0, 5.0)),
        )
        for i in range(n)
    ]
    verify = (VerifyCheck(argv=("ruff", "check", "."), status="passed", exit_code=0),)
    return GateInputs(tasks=tasks, verify=verify)


def time_gate(n: int, repeats: int) -> dict[str, Any]:
    """Median wall time of gate_decision + promotion_decision over ``n`` task verdicts."""
    from pytest_dome.config.inputs import load_policy
    from pytest_dome.core.gate import gate_decision, promotion_decision

    policy = load_policy(None, "builtin")
    inputs = gate_inputs(n)
    times = []
    status = None
    for _ in range(repeats):
        start = time.perf_counter()
        gate = gate_decision("bench-gate", inputs, policy, "2026-11-24T10:00:00Z")
        promotion_decision(gate, "2026-11-24T10:00:00Z")
        times.append(time.perf_counter() - start)
        status = gate.status
    return {
        "tasks": n,
        "repeats": repeats,
        "times_s": times,
        "median_s": statistics.median(times),
        "status": status,
    }


def write_generated_run(run_dir: Path, n: int, seed: int = 7) -> dict[str, Any]:
    """A complete run of ``n`` test tasks written with ``write_run`` (as tests/test_replay.py does)."""
    from pytest_dome.config.inputs import load_policy
    from pytest_dome.contracts.models import (
        ChangeSet,
        EffectiveConfig,
        Execution,
        SessionFacts,
        SessionRecord,
        VerifyCommandResult,
        VerifyResults,
    )
    from pytest_dome.core.aggregate import TaskResult
    from pytest_dome.core.decision import DecisionInputs, outcomes_of
    from pytest_dome.core.plan import Plan, PlannedTask, input_digest
    from pytest_dome.runfolder.record import write_run

    rnd = random.Random(seed)
    run_id = run_dir.name
    policy = load_policy(None, "builtin")
    change_set = ChangeSet(
        status="not_requested",
        base_ref=None,
        base_commit=None,
        head_commit=None,
        files=(),
        sensitive_files=(),
        detail=None,
    )
    effective_config = EffectiveConfig(
        runtime_dir=str(run_dir.parent),
        policy_source="builtin",
        threshold_source="policy",
        risk_threshold=policy.threshold,
        fail_on=("REJECT",),
        verify=(("ruff", "check", "."),),
        verify_timeout_s=600,
        packet_source=None,
        base_ref=None,
        max_workers=2,
        max_retries=1,
    )
    start = time.perf_counter()
    tasks = tuple(
        PlannedTask(
            task_id=f"t{i:06d}",
            kind="test",
            node_id=f"tests/test_m{i // 100:04d}.py::test_{i % 100}",
            entry=None,
            critical=rnd.random() < 0.05,
            risk_weight=rnd.choice((0, 0, 0, 5)),
        )
        for i in range(n)
    )
    plan = Plan(packet_id=None, input_digest=input_digest(None, change_set, policy, tasks), tasks=tasks)
    results = tuple(
        TaskResult(
            task_id=t.task_id,
            node_id=t.node_id,
            outcome=(o := rnd.choice(OUTCOMES)),  # type: ignore[arg-type]
            flaky=False,
            duration_s=0.001,
            summary=None if o in ("passed", "xpassed") else f"{t.node_id}: {o}",
            attempts=(),
        )
        for t in tasks
    )
    verify = VerifyResults(
        run_id=run_id,
        timeout_s=600,
        commands=(
            VerifyCommandResult(
                argv=("ruff", "check", "."), status="passed", exit_code=0, duration_s=1.0, output_tail=""
            ),
        ),
    )
    inputs = DecisionInputs(
        run_id=run_id,
        plan=plan,
        change_set=change_set,
        packet_document=None,
        policy=policy,
        outcomes=outcomes_of(results),
        verify=verify,
        session=SessionRecord(run_id=run_id, facts=SessionFacts()),
    )
    built = time.perf_counter()
    outcome = write_run(
        run_dir,
        inputs,
        results=results,
        started_at="2026-11-24T10:00:00Z",
        execution=Execution(mode="xdist", workers=2),
        effective_config=effective_config,
        exit_status=1,
    )
    done = time.perf_counter()
    return {
        "tasks": n,
        "build_s": built - start,
        "write_run_s": done - built,
        "status": outcome.gate.status if outcome.gate else None,
    }


def main(argv: list[str]) -> int:
    """``bench_core.py gate N`` or ``bench_core.py write-run DIR N``: one JSON line on stdout.

    The harness runs these in a child process, so it never imports pytest_dome
    itself and stays small (a child's peak RSS counts its parent's size at spawn).
    """
    import json

    if argv[:1] == ["gate"] and len(argv) == 2:
        result = time_gate(int(argv[1]), 5)
    elif argv[:1] == ["write-run"] and len(argv) == 3:
        result = write_generated_run(Path(argv[1]), int(argv[2]))
    else:
        print("usage: bench_core.py gate N | write-run DIR N", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
