"""Quarantine with an owner and an expiry (docs/quarantine.md): end to end with
pytester (the gate, the evidence, replay, tampering, bad files), and the pure
matching, expiry and gate rules with plain values and Hypothesis."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_dome.cli.main import main
from pytest_dome.config.inputs import load_policy
from pytest_dome.contracts import ssot
from pytest_dome.contracts.models import QuarantineEntry, QuarantineFile, TaskOutcome
from pytest_dome.core.canonical import sha256_hex
from pytest_dome.core.gate import GateInputs, TaskVerdict, evaluate
from pytest_dome.core.plan import PlannedTask
from pytest_dome.core.quarantine import apply, as_of_day, is_expired, matches
from pytest_dome.runfolder.reader import manifest_digest

RUNS = "ops/runtime/runs"
SUITE = """
def test_ok(): pass
def test_net(): assert 0, "the shared runner's network"
"""
TODAY = dt.datetime.now(dt.timezone.utc).date()


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def entry(pattern: str, expires: str, **extra: str) -> str:
    fields = {
        "pattern": pattern,
        "owner": "@org/net",
        "reason": "flaky network",
        "tracking": "https://example.com/issues/7",
        **extra,
    }
    body = "".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items())
    return f"\n[[entries]]\n{body}expires = {expires}\n"  # a TOML date, unquoted


def quarantine_file(*entries: str) -> str:
    return 'schema_version = "1.0.0"\nkind = "quarantine"\n' + "".join(entries)


def reseal(run_dir: Path, relative: str, edit) -> None:
    """Edit one listed artifact and re-list it in a manifest that verifies its hashes."""
    path = run_dir / relative
    doc = json.loads(path.read_text())
    edit(doc)
    data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    path.write_bytes(data)
    manifest_path = run_dir / "run.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if relative == "run.manifest.json":
        manifest = doc
    for item in manifest["artifacts"]:
        if item["path"] == relative:
            item["sha256"], item["bytes"] = sha256_hex(data), len(data)
    manifest["manifest_digest"] = manifest_digest(manifest)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


# --- end to end ------------------------------------------------------------------


def test_a_quarantined_failure_runs_is_recorded_and_does_not_reject(
    pytester: pytest.Pytester, dome_run, capsys
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "dome-quarantine.toml").write_text(
        quarantine_file(entry("test_suite.py::test_net", day(30)))
    )
    result = pytester.runpytest("--dome-run-id=r1")
    assert result.ret == 0  # the gate did not reject: pytest's failure is not the job's
    result.stdout.fnmatch_lines(
        [
            "*failed tasks (1): test_suite.py::test_net (quarantined)",
            f"*quarantine: 1 entries as of {TODAY.isoformat()}, 1 tasks quarantined, 1 of them failed",
            "*QUARANTINED_FAILURE: *",
        ]
    )
    run = dome_run("r1")  # every artifact schema-checked, hashes, replay
    assert run.outcomes["test_suite.py::test_net"] == "failed"  # its real outcome
    gate = run.gate
    assert gate["status"] != "REJECT"
    assert "QUARANTINED_FAILURE" in gate["reason_codes"] and "TASK_FAILED" not in gate["reason_codes"]
    assert gate["checks"]["tasks"]["failed"] == 1
    check = gate["checks"]["quarantine"]
    task_of = {t["node_id"]: t["task_id"] for t in run.plan["tasks"]}
    assert check["failures"] == [task_of["test_suite.py::test_net"]]
    assert (check["as_of"], check["entries"], check["quarantined"]) == (TODAY.isoformat(), 1, 1)
    assert check["expired"] == check["unmatched"] == []
    scored = {f["name"]: f for f in gate["risk"]["factors"]}
    assert scored["quarantined_failure_rate"]["value"] == 0.5
    assert scored["quarantined_failure_rate"]["contribution"] == 15.0  # weight 30
    assert scored["task_failure_rate"]["value"] == 0.0

    recorded = json.loads((run.path / "inputs/quarantine.json").read_text())
    assert ssot.schema_errors("quarantine", recorded) == []
    assert recorded["entries"][0]["expires"] == day(30)  # the TOML date, as an ISO string
    listed = {e["path"]: e["kind"] for e in run.manifest["artifacts"]}
    assert listed["inputs/quarantine.json"] == "quarantine"

    capsys.readouterr()
    assert main(["replay", str(run.path), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["identical"] and replayed["replayed"]["decision_digest"] == gate["decision_digest"]
    assert main(["report", str(run.path), "--markdown"]) == 0
    assert "`test_suite.py::test_net` (quarantined)" in capsys.readouterr().out

    # The same suite without the file: the failure rejects, and the inputs differ.
    (pytester.path / "dome-quarantine.toml").unlink()
    assert pytester.runpytest("--dome-run-id=r2").ret == 1
    plain = dome_run("r2").gate
    assert plain["status"] == "REJECT" and "quarantine" not in plain["checks"]
    assert plain["input_digest"] != gate["input_digest"]
    assert "quarantined_failure_rate" not in {f["name"] for f in plain["risk"]["factors"]}


def test_an_expired_entry_shields_nothing_and_says_so(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "q.toml").write_text(quarantine_file(entry("*::test_net", day(-1))))
    result = pytester.runpytest("--dome-run-id=r1", "--dome-quarantine=q.toml")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["quarantine: 1 entries as of *, 0 tasks *; expired (shield nothing): [*]::test_net"]
    )
    gate = dome_run("r1").gate
    assert gate["status"] == "REJECT"
    assert {"TASK_FAILED", "QUARANTINE_EXPIRED"} <= set(gate["reason_codes"])
    assert "QUARANTINED_FAILURE" not in gate["reason_codes"]
    assert gate["checks"]["quarantine"]["expired"] == ["*::test_net"]
    assert gate["checks"]["quarantine"]["failures"] == []


def test_a_pattern_that_matches_nothing_is_reported(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(test_suite=SUITE.replace('assert 0, "the shared runner\'s network"', "pass"))
    (pytester.path / "pyproject.toml").write_text('[tool.dome]\nquarantine = "ci/q.toml"\n')
    (pytester.path / "ci").mkdir()
    (pytester.path / "ci/q.toml").write_text(quarantine_file(entry("test_suite.py::test_gone[1]", day(5))))
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    gate = dome_run("r1").gate
    assert "QUARANTINE_UNMATCHED" in gate["reason_codes"]
    assert gate["checks"]["quarantine"]["unmatched"] == ["test_suite.py::test_gone[1]"]


def test_the_ini_key_names_the_file(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeini("[pytest]\ndome_quarantine = q.toml\n")
    (pytester.path / "q.toml").write_text(quarantine_file(entry("test_suite.py::test_*", day(1))))
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    check = dome_run("r1").gate["checks"]["quarantine"]
    assert (check["quarantined"], len(check["failures"])) == (2, 1)


def test_expiry_is_judged_on_the_recorded_start_and_a_tampered_file_is_caught(
    pytester: pytest.Pytester, dome_run, capsys
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "dome-quarantine.toml").write_text(quarantine_file(entry("*test_net", day(0))))
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    run_dir = dome_run("r1").path
    capsys.readouterr()

    # A replay decides on the day the run started, not today: a manifest that says it
    # started the day after the entry expired gives another decision.
    def later(doc: dict) -> None:
        doc["started_at"] = f"{day(1)}T00:00:01.000000Z"

    reseal(run_dir, "run.manifest.json", later)
    assert main(["verify", str(run_dir)]) == 1
    assert "REPLAY_MISMATCH gate/gate.decision.json" in capsys.readouterr().err

    # The recorded file edited: caught by its hash, and re-sealed, by the replay.
    pytester.runpytest("--dome-run-id=r2")
    run_dir = pytester.path / RUNS / "r2"
    path = run_dir / "inputs/quarantine.json"
    path.write_text(path.read_text().replace(day(0), day(-1)))
    capsys.readouterr()
    assert main(["verify", str(run_dir)]) == 1
    assert "EVIDENCE_HASH_MISMATCH inputs/quarantine.json" in capsys.readouterr().err
    reseal(run_dir, "inputs/quarantine.json", lambda doc: None)
    assert main(["verify", str(run_dir)]) == 1
    assert "REPLAY_MISMATCH gate/gate.decision.json" in capsys.readouterr().err


BAD = {
    "not TOML": ("schema_version = \n", "quarantine file dome-quarantine.toml is not valid TOML"),
    "no owner": (
        quarantine_file(entry("t", day(1))).replace('owner = "@org/net"\n', ""),
        "does not match ssot/schemas/quarantine.schema.json: entries/0: 'owner' is a required property",
    ),
    "tracking not a URL": (
        quarantine_file(entry("t", day(1), tracking="JIRA-7")),
        "entries/0/tracking: 'JIRA-7' does not match",
    ),
    "no such day": (
        quarantine_file(entry("t", day(1))).replace(f"expires = {day(1)}", 'expires = "2027-02-30"'),
        "entries/0 ('t'): expires '2027-02-30' is not a day of the calendar",
    ),
    "a time, not a day": (
        quarantine_file(entry("t", f"{day(1)}T10:00:00Z")),
        "is not a day; write a date as YYYY-MM-DD",
    ),
    "pattern twice": (
        quarantine_file(entry("t", day(1)), entry("t", day(2))),
        "entries/1 ('t'): the pattern is listed twice",
    ),
    "beyond the horizon": (
        quarantine_file(entry("t", day(91))),
        f"expires {day(91)} is more than 90 days from today ({TODAY.isoformat()}); a quarantine is bounded",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_quarantine_file_is_one_clear_line(pytester: pytest.Pytester, case: str) -> None:
    content, message = BAD[case]
    (pytester.path / "dome-quarantine.toml").write_text(content)
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: ") and message in errors[0], errors
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not (pytester.path / RUNS / "r1").exists()  # nothing half-written


def test_a_missing_named_file_is_one_clear_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "--dome-quarantine=nope.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line.strip()] == [
        "ERROR: quarantine file nope.toml does not exist; fix the path"
    ]


# --- pure: matching, expiry, the gate ----------------------------------------------

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30)


def test_patterns_are_whole_case_sensitive_and_brackets_are_literal() -> None:
    node = "tests/test_net.py::test_get[https-1]"
    assert matches(node, node)
    assert matches("tests/*", node) and matches("*::test_get[*]", node) and matches("*[https-?]", node)
    assert not matches("test_net.py", node)  # whole, not a part
    assert not matches("tests/test_net.py::test_get[h]", "tests/test_net.py::test_geth")  # no classes
    assert not matches("TESTS/*", node)  # case-sensitive on every platform


@given(ids, ids)
def test_a_pattern_without_wildcards_matches_itself_only(pattern: str, other: str) -> None:
    pattern = pattern.replace("*", "x").replace("?", "x")
    assert matches(pattern, pattern)
    assert matches(pattern, other) == (pattern == other)


@given(ids, st.integers(min_value=0, max_value=29))
def test_wildcards_match_any_run_and_one_character(text: str, cut: int) -> None:
    text = text.replace("*", "x").replace("?", "x")
    cut = min(cut, len(text) - 1)
    assert matches("*", text) and matches(text[:cut] + "*", text)
    one = text[:cut] + "?" + text[cut + 1 :]
    assert matches(one, text) and not matches(one, text + "y")


@given(st.dates(), st.dates())
def test_an_entry_expires_after_its_day(expires: dt.date, started: dt.date) -> None:
    as_of = as_of_day(f"{started.isoformat()}T23:59:59.999999Z")
    assert is_expired(expires.isoformat(), as_of) == (expires < started)


def _entry(pattern: str, expires: str) -> QuarantineEntry:
    return QuarantineEntry(
        pattern=pattern, owner="o", reason="r", tracking="https://example.com/1", expires=expires
    )


def _task(task_id: str, critical: bool = False) -> PlannedTask:
    return PlannedTask(task_id, "test", f"t.py::{task_id}", None, critical, 0.0)


def test_apply_matches_ids_and_node_ids_and_reports_expired_and_unmatched() -> None:
    doc = QuarantineFile(
        entries=(
            _entry("a", "2026-12-31"),  # a task id
            _entry("t.py::b*", "2026-12-31"),  # node ids
            _entry("c", "2026-11-30"),  # expired on 2026-12-01
            _entry("zzz*", "2026-12-31"),  # nothing
        )
    )
    applied = apply(doc, "2026-12-01", [_task("a"), _task("b1"), _task("b2"), _task("c")])
    assert applied.matched == {"a", "b1", "b2"}
    assert (applied.expired, applied.unmatched, applied.entries) == (("c",), ("zzz*",), 4)
    assert apply(doc, "2026-11-30", [_task("c")]).matched == {"c"}  # its last day


OUTCOMES: tuple[TaskOutcome, ...] = ("passed", "failed", "error", "skipped", "missing")


@given(
    st.lists(
        st.tuples(st.sampled_from(OUTCOMES), st.booleans(), st.booleans()),  # outcome, quarantined, critical
        min_size=1,
        max_size=8,
    )
)
def test_only_an_unexpired_quarantine_keeps_a_failure_from_rejecting(rows) -> None:
    """REJECT exactly when some task fails, errs or is missing and is not shielded (not
    quarantined, critical, or missing: no result is never a known failure), or a
    critical task did not pass."""
    tasks = [_task(f"t{i}", critical) for i, (_, _, critical) in enumerate(rows)]
    table = list(zip(tasks, rows, strict=True))
    verdicts = [TaskVerdict(t.task_id, o, critical=c) for t, (o, _, c) in table]
    doc = QuarantineFile(entries=tuple(_entry(t.task_id, "2026-12-31") for t, (_, q, _) in table if q))
    policy = load_policy(None, "builtin")
    decided = evaluate(
        GateInputs(tasks=verdicts, verify=(), quarantine=apply(doc, "2026-12-01", tasks)), policy
    )
    unshielded = any(
        (o in ("failed", "error", "missing") and not (q and not c and o != "missing"))
        or (c and o != "passed")  # a critical task that did not pass rejects, quarantined or not
        for o, q, c in rows
    )
    assert (decided["status"] == "REJECT") == unshielded
    shielded = sorted(t.task_id for t, (o, q, c) in table if q and not c and o in ("failed", "error"))
    assert decided["checks"]["quarantine"]["failures"] == shielded
    assert ("QUARANTINED_FAILURE" in decided["reason_codes"]) == bool(shielded)
    # The same run a day after every entry expired: every failure counts again.
    expired = evaluate(
        GateInputs(tasks=verdicts, verify=(), quarantine=apply(doc, "2027-01-01", tasks)), policy
    )
    failing = any(o in ("failed", "error", "missing") or (c and o != "passed") for o, _, c in rows)
    assert (expired["status"] == "REJECT") == failing
    assert ("QUARANTINE_EXPIRED" in expired["reason_codes"]) == bool(doc.entries)


def test_dome_quarantine_check_lists_the_entries_as_a_run_reads_them(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dome-quarantine.toml").write_text(
        quarantine_file(entry("a::*", day(10)), entry("b", day(-3)))
    )
    assert main(["quarantine", "check"]) == 1  # one entry expired
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"a::*: shields through {day(10)} (owner @org/net, https://example.com/issues/7)",
        f"b: EXPIRED, shields nothing through {day(-3)} (owner @org/net, https://example.com/issues/7)",
        f"dome-quarantine.toml: 2 entries as of {TODAY.isoformat()}, 1 expired",
    ]
    (tmp_path / "q.toml").write_text(quarantine_file(entry("a", day(91))))
    assert main(["quarantine", "check", "q.toml"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        "dome quarantine check: quarantine file q.toml entries/0 ('a')"
    )
    (tmp_path / "q.toml").write_text(quarantine_file(entry("a", day(0))))
    assert main(["quarantine", "check", "q.toml"]) == 0


def test_serial_and_two_workers_decide_the_same(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "dome-quarantine.toml").write_text(quarantine_file(entry("*::test_net", day(2))))
    assert pytester.runpytest("--dome-run-id=serial", "-n", "0").ret == 0
    assert pytester.runpytest("--dome-run-id=n2", "-n", "2").ret == 0
    serial, n2 = dome_run("serial"), dome_run("n2")
    assert n2.manifest["execution"] == {"mode": "xdist", "workers": 2}
    assert serial.gate["decision_digest"] == n2.gate["decision_digest"]
    assert "QUARANTINED_FAILURE" in n2.gate["reason_codes"]


def test_shards_record_the_file_and_the_merged_run_applies_it(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(test_suite=SUITE + "def test_more(): pass\ndef test_most(): pass\n")
    (pytester.path / "dome-quarantine.toml").write_text(quarantine_file(entry("*::test_net", day(3))))
    for k in (1, 2):
        pytester.runpytest(f"--dome-run-id=s{k}", f"--dome-shard={k}/2")
        assert (pytester.path / RUNS / f"s{k}/inputs/quarantine.json").is_file()
    assert main(["merge", "--run-id=m", *(str(pytester.path / RUNS / f"s{k}") for k in (1, 2))]) == 0
    merged = dome_run("m")  # verified: the merged decision replays
    assert merged.gate["status"] != "REJECT" and "QUARANTINED_FAILURE" in merged.gate["reason_codes"]
    assert merged.gate["checks"]["quarantine"]["as_of"] == merged.manifest["started_at"][:10]
