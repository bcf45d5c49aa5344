"""A run compared with its baseline (--dome-baseline) and `dome diff`: end to end with
pytester, and the comparison itself with plain values and Hypothesis."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_dome.cli.main import main
from pytest_dome.config.inputs import load_policy
from pytest_dome.contracts import ssot
from pytest_dome.contracts.models import BaselinePolicy, BaselineRun, BaselineSummary, BaselineTask
from pytest_dome.core.canonical import sha256_hex
from pytest_dome.core.checkers import check
from pytest_dome.core.comparison import RecordedBaseline, compare, markedly_slower, sign_test, suite_shift
from pytest_dome.core.gate import GateInputs, TaskVerdict, evaluate
from pytest_dome.runfolder.reader import manifest_digest

BEFORE = """
def test_keep(): pass
def test_gone(): pass
def test_break(): pass
def test_slow(): pass
"""
AFTER = """
import time
def test_keep(): pass
def test_break(): assert 0, "broken now"
def test_slow(): time.sleep(0.3)
"""
# The slow test sleeps 0.3 s; the baseline's recorded durations are set to 0, so
# the slowdown (>= 0.3 s, ratio unbounded) passes the 0.2 s floor whatever the machine.
POLICY = {
    "schema_version": "1.0.0",
    "kind": "risk.policy",
    "policy_id": "p",
    "threshold": 50,
    "factors": {},
    "baseline": {"min_slowdown_s": 0.2},
}
RUNS = "ops/runtime/runs"


def reseal(run_dir: Path, edit_result) -> None:
    """Edit every task result of a run and re-list it in a manifest that verifies
    (the decision does not read durations, so it still replays)."""
    manifest_path = run_dir / "run.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["artifacts"]:
        if entry["kind"] == "task.result":
            path = run_dir / entry["path"]
            doc = json.loads(path.read_text())
            edit_result(doc)
            data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
            path.write_bytes(data)
            entry["sha256"], entry["bytes"] = sha256_hex(data), len(data)
    manifest["manifest_digest"] = manifest_digest(manifest)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def no_time(doc: dict[str, Any]) -> None:
    doc["duration_s"] = 0.0
    for attempt in doc["attempts"]:
        attempt["duration_s"] = 0.0


def baseline_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=BEFORE)
    assert pytester.runpytest("--dome-run-id=r0").ret == 0
    reseal(pytester.path / RUNS / "r0", no_time)


def test_a_run_with_a_baseline_shows_scores_and_replays_what_got_worse(
    pytester: pytest.Pytester, dome_run, capsys
) -> None:
    baseline_run(pytester)
    (pytester.path / "p.json").write_text(json.dumps(POLICY))
    pytester.makepyfile(test_suite=AFTER)
    result = pytester.runpytest("--dome-run-id=r1", "--dome-baseline=r0", "--dome-policy=p.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "baseline: compared with run r0 (APPROVE): 1 new failure, 1 task removed, 1 task *x slower",
            "  new failures (1): test_suite.py::test_break",
            "  removed (1): test_suite.py::test_gone",
            "  slower (1): test_suite.py::test_slow 0 s -> 0.3* s (*x)",
        ]
    )
    run = dome_run("r1")  # every artifact schema-checked, hashes, replay
    gate = run.gate
    assert gate["status"] == "REJECT"
    assert {
        "BASELINE_COMPARED",
        "BASELINE_NEW_FAILURE",
        "BASELINE_TASKS_REMOVED",
        "BASELINE_TASKS_SLOWER",
    } <= set(gate["reason_codes"])
    assert "BASELINE_KNOWN_FAILURE" not in gate["reason_codes"]
    found = gate["checks"]["baseline"]
    assert (found["baseline_run_id"], found["compared"], found["new_failures"]) == ("r0", 3, 1)
    assert (found["removed"], found["slower"], found["known_failures"], found["added"]) == (1, 1, 0, 0)
    scored = {f["name"]: f["contribution"] for f in gate["risk"]["factors"]}
    # saturate_at 10: one task of each kind is a tenth of the factor's weight
    assert scored["baseline_new_failures"] == 4.0
    assert scored["baseline_removed_tasks"] == 3.0
    assert scored["baseline_slower_tasks"] == 2.0
    assert scored["baseline_newly_flaky"] == scored["baseline_suite_slower"] == 0.0

    summary = json.loads((run.path / "inputs/baseline.summary.json").read_text())
    assert check("baseline.summary", summary) == []
    assert summary["baseline"]["run_id"] == "r0" and len(summary["tasks"]) == 4
    assert {"path": "inputs/baseline.summary.json", "kind": "baseline.summary"}.items() <= next(
        e for e in run.manifest["artifacts"] if e["path"] == "inputs/baseline.summary.json"
    ).items()

    capsys.readouterr()  # what the inner sessions printed
    assert main(["diff", "r0", "r1"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("run r1 against run r0 (APPROVE): 1 new failure, 1 task removed, 1 task ")
    assert (
        "new failures (1): test_suite.py::test_break" in out
        and "removed (1): test_suite.py::test_gone" in out
    )
    assert main(["diff", "r0", "r1", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["check"] == found  # the same comparison as the gate's
    assert ssot.subschema_errors("gate.decision", "baseline_check", doc["check"]) == []
    assert doc["removed"] == ["test_suite.py::test_gone"] and doc["slower"][0]["after_s"] >= 0.3

    assert main(["report", "r1", "--markdown"]) == 0
    assert "**Compared with baseline run `r0` (APPROVE)**: 1 new failure" in capsys.readouterr().out
    assert main(["report", "r1", "--html", "r1.html"]) == 0
    page = (pytester.path / "r1.html").read_text()
    assert (
        '<p id="baseline">1 new failure, 1 task removed, 1 task ' in page
        and "test_suite.py::test_gone" in page
    )

    # Replay reads the recorded summary, never the baseline's folder: gone, same decision.
    shutil.rmtree(pytester.path / RUNS / "r0")
    assert main(["replay", "r1"]) == 0
    assert "identical to the recorded decision" in capsys.readouterr().out
    assert main(["verify", "r1"]) == 0


def test_nothing_got_worse_against_itself_and_input_digest_names_the_baseline(
    pytester: pytest.Pytester, dome_run, capsys
) -> None:
    baseline_run(pytester)
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    result = pytester.runpytest("--dome-run-id=r2", f"--dome-baseline={RUNS}/r0")  # a folder
    assert result.ret == 0
    result.stdout.fnmatch_lines(["baseline: compared with run r0 (APPROVE): nothing got worse"])
    capsys.readouterr()
    plain, compared = dome_run("r1").gate, dome_run("r2").gate
    assert compared["status"] == "APPROVE" and "BASELINE_COMPARED" in compared["reason_codes"]
    assert "baseline" not in plain["checks"] and "baseline" in compared["checks"]
    assert plain["input_digest"] != compared["input_digest"]
    assert [f["name"] for f in plain["risk"]["factors"]][-1] == "base_ref_unresolved"  # as before
    assert main(["diff", "r0", "r1"]) == 0
    assert "nothing got worse" in capsys.readouterr().out


def test_serial_and_two_workers_record_the_same_comparison(pytester: pytest.Pytester, dome_run) -> None:
    """The decision records counts, not measured durations: the same outcomes and
    counts give the same decision digest under any -n."""
    baseline_run(pytester)
    (pytester.path / "p.json").write_text(json.dumps(POLICY))
    pytester.makepyfile(test_suite=AFTER)
    for run_id, mode in (("serial", "-p no:xdist"), ("n2", "-n 2")):
        pytester.runpytest(
            f"--dome-run-id={run_id}", "--dome-baseline=r0", "--dome-policy=p.json", *mode.split()
        )
    serial, n2 = dome_run("serial"), dome_run("n2")
    # The two runs were what they say: one serial, one on two xdist workers.
    assert serial.manifest["execution"] == {"mode": "serial", "workers": 1}
    assert n2.manifest["execution"] == {"mode": "xdist", "workers": 2}
    assert serial.gate["checks"]["baseline"]["slower"] == 1
    assert serial.gate["decision_digest"] == n2.gate["decision_digest"]


def test_shards_share_the_baseline_and_the_merged_run_compares(pytester: pytest.Pytester, dome_run) -> None:
    baseline_run(pytester)
    pytester.makepyfile(test_suite=AFTER.replace("time.sleep(0.3)", "pass"))
    for k in (1, 2):
        pytester.runpytest(f"--dome-run-id=s{k}", f"--dome-shard={k}/2", "--dome-baseline=r0")
    folders = [str(pytester.path / RUNS / f"s{k}") for k in (1, 2)]
    assert main(["merge", "--run-id=m", *folders]) == 1
    found = dome_run("m").gate["checks"]["baseline"]
    assert (found["new_failures"], found["removed"], found["compared"]) == (1, 1, 3)


def _tamper(run_dir: Path) -> None:
    path = next((run_dir / "task_results").iterdir())
    path.write_text(path.read_text().replace('"passed"', '"failed"', 1))


def _other_schema(run_dir: Path) -> None:
    path = run_dir / "run.manifest.json"
    path.write_text(path.read_text().replace('"schema_version": "1.0.0"', '"schema_version": "9.0.0"', 1))


def _resealed(run_dir: Path) -> None:
    """A task result edited and its manifest re-sealed: every hash matches."""
    reseal(run_dir, lambda doc: doc.update(outcome="failed"))


BAD = {
    "missing": ("nope", None, "--dome-baseline: nope: no such run folder"),
    "tampered": ("r0", _tamper, f"/{RUNS}/r0: EVIDENCE_HASH_MISMATCH task_results/"),
    "other schema": ("r0", _other_schema, f"/{RUNS}/r0: EVIDENCE_SCHEMA_UNSUPPORTED run.manifest.json: "),
    "re-sealed": (
        "r0",
        _resealed,
        "EVIDENCE_INCONSISTENT gate/gate.decision.json: checks.tasks.results_digest",
    ),
    "shard": ("r0", "shard", f"/{RUNS}/r0: a shard's partial run has no decision; give the merged run"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_baseline_that_cannot_be_compared_with_is_one_line_exit_4(
    pytester: pytest.Pytester, case: str
) -> None:
    source, spoil, message = BAD[case]
    pytester.makepyfile("def test_ok(): pass")
    if spoil is not None:
        assert (
            pytester.runpytest("--dome-run-id=r0", *(["--dome-shard=1/1"] if spoil == "shard" else [])).ret
            == 0
        )
        if callable(spoil):
            spoil(pytester.path / RUNS / "r0")
    result = pytester.runpytest_subprocess(
        "--dome-run-id=r1", f"--dome-baseline={source}", "-p", "no:benchmark"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: ") and message in errors[0], errors
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not (pytester.path / RUNS / "r1").exists()


CONFIGURED = """
import sys

def pytest_sessionstart(session):
    loaded = sorted(m for m in sys.modules if m.endswith(("runfolder.audit", "runfolder.replay")))
    print("DOME-LOADED", loaded)
"""


def test_configure_reads_the_baseline_without_the_dome_verify_stack(pytester: pytest.Pytester) -> None:
    """Settings ask the reader for the baseline's summary: configuring a session with
    --dome-baseline imports neither `dome verify` (audit) nor replay."""
    pytester.makepyfile("def test_ok(): pass")
    assert pytester.runpytest("--dome-run-id=r0").ret == 0
    pytester.makeconftest(CONFIGURED)
    result = pytester.runpytest_subprocess(
        "--dome-run-id=r1", "--dome-baseline=r0", "-s", "-p", "no:benchmark"
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["DOME-LOADED []"])


def test_dome_diff_of_a_run_that_is_not_there_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["diff", str(tmp_path / "a"), str(tmp_path / "b"), "--runtime-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dome diff: ") and "no such run folder" in err[0]


# --- the comparison, with plain values ------------------------------------------

DEFAULTS = BaselinePolicy()
RUN = BaselineRun(
    run_id="r0",
    gate_status="APPROVE",
    decision_digest="0" * 64,
    input_digest="1" * 64,
    manifest_digest="2" * 64,
)


def recorded(*tasks: tuple[str, str, bool, float]) -> RecordedBaseline:
    rows = tuple(
        BaselineTask(task_id=t, node_id=f"t.py::{t}", outcome=o, flaky=f, duration_s=d)
        for t, o, f, d in tasks
    )  # type: ignore[arg-type]
    return RecordedBaseline.of(BaselineSummary(baseline=RUN, tasks=rows))


def now(task_id: str, outcome: str = "passed", flaky: bool = False, duration: float = 0.0) -> TaskVerdict:
    return TaskVerdict(task_id, outcome, flaky, duration_s=duration)  # type: ignore[arg-type]


def test_each_task_is_classified_by_what_changed() -> None:
    base = recorded(
        ("new", "passed", False, 0.0),
        ("known", "failed", False, 0.0),
        ("fixed", "error", False, 0.0),
        ("flaky", "passed", False, 0.0),
        ("still-flaky", "passed", True, 0.0),
        ("gone", "passed", False, 0.0),
        ("skipped-then-missing", "skipped", False, 0.0),
    )
    c = compare(
        base,
        [
            now("new", "failed"),
            now("known", "error"),
            now("fixed"),
            now("flaky", flaky=True),
            now("still-flaky", flaky=True),
            now("skipped-then-missing", "missing"),
            now("brand-new", "failed"),
        ],
        DEFAULTS,
    )
    assert c.new_failures == ("brand-new", "new", "skipped-then-missing")
    assert c.known_failures == ("known",) and c.fixed == ("fixed",)
    assert c.newly_flaky == ("flaky",) and c.removed == ("gone",) and c.added == ("brand-new",)
    assert c.compared == 6 and c.name("gone") == "t.py::gone"
    assert c.codes() == {
        "BASELINE_COMPARED",
        "BASELINE_NEW_FAILURE",
        "BASELINE_KNOWN_FAILURE",
        "BASELINE_NEWLY_FLAKY",
        "BASELINE_TASKS_REMOVED",
    }


def test_a_slower_task_needs_both_the_floor_and_the_ratio() -> None:
    assert markedly_slower(0.01, 0.6, DEFAULTS)  # +0.59 s and 60x
    assert not markedly_slower(0.01, 0.4, DEFAULTS)  # 40x, but +0.39 s: under the 0.5 s floor
    assert not markedly_slower(10.0, 11.0, DEFAULTS)  # +1 s, but 1.1x
    assert markedly_slower(10.0, 20.0, DEFAULTS)
    assert not markedly_slower(0.0, 0.0, BaselinePolicy(min_slowdown_s=0))  # not slower at all


def test_the_sign_test_is_exact() -> None:
    assert sign_test(7, 7) == Fraction(1, 128)
    assert sign_test(10, 0) == 1 and sign_test(3, 4) == 0
    assert sign_test(4, 2) == Fraction(11, 16)  # (6 + 4 + 1) / 16


@given(st.integers(0, 300), st.integers(0, 301))
def test_sign_test_tails_add_up_by_symmetry(n: int, k: int) -> None:
    """P(X >= k) + P(X >= n - k + 1) = 1 for X ~ Binomial(n, 1/2)."""
    k = min(k, n + 1)
    assert sign_test(n, k) + sign_test(n, n - k + 1) == 1


def test_the_suite_is_slower_only_when_significant_and_large_enough() -> None:
    assert suite_shift([(1.0, 1.5)] * 20, DEFAULTS).slower  # p = 2**-20, median 1.5
    small = suite_shift([(1.0, 1.05)] * 20, DEFAULTS)
    assert small.p_value == Fraction(1, 2**20) and not small.slower  # significant, but 1.05x
    few = suite_shift([(1.0, 3.0)] * 6, DEFAULTS)
    assert few.p_value == Fraction(1, 64) and not few.slower  # 3x, but six tasks prove nothing at 1%
    tiny = suite_shift([(0.001, 0.05)] * 50, DEFAULTS)
    assert tiny.tasks == 0 and tiny.median_ratio is None and not tiny.slower  # under 0.1 s: not measured


durations = st.floats(0.0, 100.0, allow_nan=False)


@given(st.lists(st.tuples(durations, st.floats(-0.4, 0.4)), min_size=1, max_size=40), st.randoms())
def test_noise_under_the_floor_is_never_a_regression_and_order_does_not_matter(
    rows: list[tuple[float, float]], rnd: Any
) -> None:
    base = recorded(*((f"t{i}", "passed", False, d) for i, (d, _) in enumerate(rows)))
    current = [now(f"t{i}", duration=max(0.0, d + jitter)) for i, (d, jitter) in enumerate(rows)]
    first = compare(base, current, DEFAULTS)
    assert first.slower == ()
    rnd.shuffle(current)
    assert compare(base, current, DEFAULTS).check() == first.check()


def test_the_gate_scores_a_baseline_and_decides_without_one_as_before() -> None:
    policy = load_policy(None, "builtin")
    tasks = [now("a"), now("b", "failed")]
    plain = evaluate(GateInputs(tasks=tasks), policy)
    assert "baseline" not in plain["checks"]
    assert not any(f["name"].startswith("baseline_") for f in plain["risk"]["factors"])
    base = recorded(("a", "passed", False, 0.0), ("b", "passed", False, 0.0), ("c", "passed", False, 0.0))
    compared = evaluate(GateInputs(tasks=tasks, baseline=base), policy)
    assert (
        compared["checks"]["baseline"]["new_failures"] == 1 and compared["checks"]["baseline"]["removed"] == 1
    )
    scored = {f["name"]: f["contribution"] for f in compared["risk"]["factors"]}
    assert scored["baseline_new_failures"] == 4.0 and scored["baseline_removed_tasks"] == 3.0
    assert compared["risk"]["score"] == plain["risk"]["score"] + 7.0
    assert {"BASELINE_NEW_FAILURE", "BASELINE_TASKS_REMOVED"} <= set(compared["reason_codes"])


def test_a_policy_without_baseline_settings_keeps_its_digest() -> None:
    """A policy recorded before the baseline existed (the built-in policy of 26a41d4,
    as a run of then recorded it) has the digest that release's code gave it."""
    from pytest_dome.contracts.models import RiskPolicy
    from pytest_dome.core.risk import policy_digest

    doc = json.loads((Path(__file__).parent / "data/risk.policy.before-baseline.json").read_text())
    policy = RiskPolicy.model_validate(doc)
    assert "baseline" not in policy.model_dump(mode="json")
    assert policy_digest(policy) == "bc15ba7a1f2027fe54f6f19417aa356436b56bb16e64486ab3ac57b5cb1e3da7"


def test_the_headline_says_what_got_worse_in_one_line() -> None:
    from pytest_dome.report.baseline import headline, lines

    base = recorded(
        *((f"slow{i}", "passed", False, 1.0) for i in range(2)),
        *((f"gone{i}", "passed", False, 0.0) for i in range(7)),
        ("was-broken", "failed", False, 0.0),
    )
    c = compare(
        base,
        [now("slow0", duration=3.0), now("slow1", duration=2.5), now("was-broken"), now("new")],
        DEFAULTS,
    )
    assert headline(c) == "7 tasks removed, 2 tasks up to 3x slower (1 fixed, 1 added)"
    assert (
        "  removed (7): t.py::gone0, t.py::gone1, t.py::gone2, t.py::gone3, t.py::gone4 and 2 more"
        in lines(c)
    )
    assert headline(compare(base, [now("slow0", duration=1.0)], DEFAULTS)) == "9 tasks removed"


def test_the_html_section_lists_the_first_five_as_the_text_does() -> None:
    from pytest_dome.report.baseline import html_section, markdown

    c = compare(recorded(*((f"gone{i}", "passed", False, 0.0) for i in range(7))), [now("new")], DEFAULTS)
    page = html_section(c)
    removed = "<br>".join(f"<code>t.py::gone{i}</code>" for i in range(5)) + "<br>and 2 more"
    assert f"<tr><td>removed (7)</td><td>{removed}</td></tr>" in page
    assert "gone5" not in page and "gone6" not in page
    listed = ", ".join(f"`t.py::gone{i}`" for i in range(5))
    assert f"- removed (7): {listed} and 2 more" in markdown(c)
