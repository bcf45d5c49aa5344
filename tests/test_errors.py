"""Bad input: one clear line, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

import sqlite3

import pytest

POLICY_OK = (
    '{"schema_version": "1.0.0", "kind": "risk.policy", "policy_id": "p", "threshold": 40, "factors": {}}'
)


def _packet(*tasks: str) -> str:
    return (
        '{"schema_version": "1.0.0", "kind": "packet", "packet_id": "p1", "tasks": ['
        + ", ".join(tasks)
        + "]}"
    )


SUITE_TASK = '{"kind": "tests", "id": "suite"}'
PACKET = ["--dome-run-id=r1", "--dome-packet=p.json"]

CASES = {
    # pytest's own check, which an xdist controller never reaches (its workers fail
    # unseen): before the run starts, in both modes.
    "path not found": (
        ["--dome-run-id=r1", "-n", "0", "nothere.py"],
        {},
        "file or directory not found: nothere.py",
    ),
    "path not found -n 2": (
        ["--dome-run-id=r1", "-n", "2", "nothere.py::test_x"],
        {},
        "file or directory not found: nothere.py::test_x",
    ),
    "packet not json": (PACKET, {"p.json": "{"}, "packet p.json is not valid JSON (line 1"),
    "packet missing": (PACKET, {}, "packet p.json does not exist"),
    "packet schema-invalid": (
        PACKET,
        {"p.json": _packet('{"kind": "command", "id": "x"}')},
        "does not match ssot/schemas/packet.schema.json",
    ),
    "packet task twice": (
        PACKET,
        {"p.json": _packet(SUITE_TASK, '{"kind": "command", "id": "SUITE", "argv": ["true"]}')},
        "task id 'SUITE' is used twice",
    ),
    "packet cwd outside": (
        PACKET,
        {"p.json": _packet('{"kind": "command", "id": "x", "argv": ["true"], "cwd": "../.."}')},
        "cwd '../..' is outside the rootdir",
    ),
    "packet path missing": (
        PACKET,
        {"p.json": _packet('{"kind": "tests", "id": "t", "select": {"paths": ["nope/"]}}')},
        "selects path 'nope/', which does not exist",
    ),
    "packet marker selects nothing": (
        PACKET,
        {"p.json": _packet('{"kind": "tests", "id": "t", "select": {"markers": ["slow"]}}')},
        "packet p.json: packet task 't' selects no collected test",
    ),
    "packet marker selects nothing n2": (
        [*PACKET, "-n", "2"],
        {"p.json": _packet('{"kind": "tests", "id": "t", "select": {"markers": ["slow"]}}')},
        "packet p.json: packet task 't' selects no collected test",
    ),
    "max workers not a count": (
        ["--dome-run-id=r1", "--dome-max-workers=two"],
        {},
        "not a whole number",
    ),
    "timeout nan": (["--dome-run-id=r1", "--dome-verify-timeout=nan"], {}, "not a positive number"),
    "threshold inf": (
        ["--dome-run-id=r1", "--dome-risk-threshold=inf"],
        {},
        "'inf' is not a score",
    ),
    "run id with slash": (["--dome-run-id=../escape"], {}, "invalid run id '../escape'"),
    "run id with dots": (["--dome-run-id=a..b"], {}, "invalid run id 'a..b'"),
    "run id too long": (["--dome-run-id=" + "a" * 129], {}, "invalid run id"),
    "threshold not a number": (
        ["--dome-run-id=r1", "--dome-risk-threshold=high"],
        {},
        "'high' is not a score from 0 to 100",
    ),
    "threshold out of range": (
        ["--dome-run-id=r1", "--dome-risk-threshold=101"],
        {},
        "'101' is not a score",
    ),
    "fail-on unknown": (["--dome-run-id=r1", "--dome-fail-on=MAYBE"], {}, "unknown status 'MAYBE'"),
    "verify not found": (
        ["--dome-run-id=r1", "--dome-verify=no-such-tool --x"],
        {},
        "program 'no-such-tool' not found",
    ),
    "verify unbalanced quote": (
        ["--dome-run-id=r1", "--dome-verify=echo 'x"],
        {},
        "No closing quotation",
    ),
    "timeout not positive": (
        ["--dome-run-id=r1", "--dome-verify-timeout=0"],
        {},
        "not a positive number",
    ),
    "policy missing": (
        ["--dome-run-id=r1", "--dome-policy=nope.json"],
        {},
        "risk policy nope.json does not exist",
    ),
    "policy not json": (
        ["--dome-run-id=r1", "--dome-policy=p.json"],
        {"p.json": "{oops"},
        "is not valid JSON (line 1",
    ),
    "policy schema-invalid": (
        ["--dome-run-id=r1", "--dome-policy=p.json"],
        {"p.json": POLICY_OK.replace('"factors": {}', '"factors": {"typo_rate": {"weight": 5}}')},
        "does not match ssot/schemas/risk.policy.schema.json",
    ),
    "pyproject unknown key": (
        ["--dome-run-id=r1"],
        {"pyproject.toml": "[tool.dome]\nverfy = []\n"},
        "'verfy' was unexpected",
    ),
    "pyproject verify not argv": (
        ["--dome-run-id=r1"],
        {"pyproject.toml": '[tool.dome]\nverify = ["ruff check"]\n'},
        "[tool.dome] verify/0",
    ),
    "runtime dir not writable": (
        ["--dome-run-id=r1", "--dome-out=blocker/runs"],
        {"blocker": ""},
        "cannot be written",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_clear_line(pytester: pytest.Pytester, case: str) -> None:
    args, files, message = CASES[case]
    for name, content in files.items():
        (pytester.path / name).write_text(content)
    pytester.makepyfile("def test_ok(): pass")
    # -p no:benchmark: pytest-benchmark, where installed, warns on stderr under xdist.
    result = pytester.runpytest_subprocess(*args, "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: ") and message in errors[0], errors
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    # No run folder where this case puts runs, and no file written anywhere else.
    runtime = next((a.split("=", 1)[1] for a in args if a.startswith("--dome-out=")), "ops/runtime/runs")
    assert not (pytester.path / runtime / "r1").exists()
    # The run history store (a packet found to select nothing after the run started)
    # may exist; it holds no row of the refused run.
    store = pytester.path / runtime / ".dome-history.sqlite"
    if store.exists():
        assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)
    written = {f for f in written_files(pytester) if not f.startswith(f"{runtime}/.dome-history.sqlite")}
    assert written == {"test_bad_input_is_one_clear_line.py", *files}


def written_files(pytester: pytest.Pytester) -> set[str]:
    """The files under the pytester folder, but pytester's own (the output and temp
    folder of runpytest_subprocess) and pytest's cache."""
    own = ("stdout", "stderr", "runpytest-", ".pytest_cache")
    return {
        p.relative_to(pytester.path).as_posix()
        for p in pytester.path.rglob("*")
        if p.is_file() and not p.relative_to(pytester.path).parts[0].startswith(own)
    }


def test_existing_run_is_refused_then_replaced_explicitly(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile("def test_ok(): pass")
    assert pytester.runpytest("--dome-run-id=r1").ret == 0
    first = dome_run().manifest["started_at"]
    again = pytester.runpytest("--dome-run-id=r1")
    assert again.ret == pytest.ExitCode.USAGE_ERROR
    again.stderr.fnmatch_lines(
        ["ERROR: run id 'r1' already has evidence in ops/runtime/runs/r1; *--dome-replace*"]
    )
    assert dome_run().manifest["started_at"] == first
    assert pytester.runpytest("--dome-run-id=r1", "--dome-replace").ret == 0
    assert dome_run().manifest["started_at"] != first
    runs = pytester.path / "ops/runtime/runs"  # the replaced run, hidden, is removed in the background
    assert [p.name for p in runs.iterdir() if not p.name.startswith(".")] == ["r1"]
