"""`dome report` in each format: the decision, the failing task, the verify commands
(argv, status, exit code, duration, the recorded tail of a failed one's output) and the
reason codes, escaped for where they are shown."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import RunEvidence, load_run
from pytest_dome.cli.main import main

SUITE = """
import pytest
def test_ok(): pass
@pytest.mark.parametrize("x", ["<script>alert(1)</script>"])
def test_hostile(x): assert 0, "boom | [click](https://example.invalid)"
"""
FAIL = """
import sys
print("line one")
print("</pre><script>alert('out')</script> & done")
print("\\x1b[31mred\\x1b[0m")
print("token ghp_" + "Z" * 36)
sys.exit(3)
"""
SECRET = "ghp_" + "Z" * 36
HOSTILE_ID = "test_report.py::test_hostile[<script>alert(1)</script>]"
SLEEP = "python -c 'import time; time.sleep(60)'"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunEvidence:
    """One REJECT run: a failing test with a hostile id; verify commands that pass,
    fail with hostile output and a secret, and time out. The session's terminal
    output is kept in ``session.out``, its GitHub step summary in ``summary.md``."""
    root = tmp_path_factory.mktemp("report")
    (root / "test_report.py").write_text(SUITE)
    (root / "fail.py").write_text(FAIL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GITHUB_"))}
    session = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--dome-max-workers=0",
            "--dome-run-id=r1",
            "--dome-verify=python -c pass",
            "--dome-verify=python fail.py",
            f"--dome-verify={SLEEP}",
            "--dome-verify-timeout=3",
        ],
        cwd=root,
        env={**env, "GITHUB_STEP_SUMMARY": str(root / "summary.md")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    (root / "session.out").write_text(session.stdout)
    return load_run(root / "ops/runtime/runs/r1")  # every artifact checked against its schema


def session(run: RunEvidence, name: str) -> str:
    return (run.path.parents[3] / name).read_text()


def commands(run: RunEvidence) -> dict[str, dict]:
    return {c["status"]: c for c in run.verify["commands"]}


def test_the_recorded_run_is_what_the_reports_are_read_against(run: RunEvidence) -> None:
    assert run.gate["status"] == "REJECT"
    assert {"TASK_FAILED", "VERIFY_FAILED", "VERIFY_TIMEOUT"} <= set(run.gate["reason_codes"])
    assert sorted(commands(run)) == ["failed", "passed", "timeout"]
    tail = commands(run)["failed"]["output_tail"]
    assert SECRET not in tail and "[REDACTED:github_token]" in tail and "\x1b[31m" in tail
    assert run.outcomes[HOSTILE_ID] == "failed"


def test_text_report_names_the_failing_task_and_each_verify_command(run: RunEvidence, capsys) -> None:
    assert main(["report", str(run.path)]) == 0
    out = capsys.readouterr().out
    failed, timeout = commands(run)["failed"], commands(run)["timeout"]
    lines = out.splitlines()
    assert lines[0] == "decision: REJECT  (promotion: stop)"
    assert f"failed tasks (1): {HOSTILE_ID}" in lines
    assert "verify commands (3):" in lines
    assert f"  passed: python -c pass (exit code 0, {commands(run)['passed']['duration_s']:.2f} s)" in lines
    assert f"  failed: python fail.py (exit code 3, {failed['duration_s']:.2f} s), output tail:" in lines
    assert f"  timeout: {SLEEP} (no exit code, {timeout['duration_s']:.2f} s), output tail:" in lines
    # the recorded tail, line by line, indented under its command; control characters shown
    start = lines.index(f"  failed: python fail.py (exit code 3, {failed['duration_s']:.2f} s), output tail:")
    assert lines[start + 1 : start + 5] == [
        "    line one",
        "    </pre><script>alert('out')</script> & done",
        "    \\x1b[31mred\\x1b[0m",
        "    token [REDACTED:github_token]",
    ]
    assert "    [dome: killed after 3 s timeout]" in lines
    assert "  VERIFY_FAILED: A deterministic verify command exited with a non-zero status." in lines
    assert any(line.startswith("  VERIFY_TIMEOUT: ") for line in lines)
    assert any(line.startswith("  TASK_FAILED: ") for line in lines)
    assert lines[-1] == f"evidence: {run.path}"
    assert SECRET not in out and "\x1b" not in out


def test_markdown_report_has_the_verify_table_and_the_output_tail_in_a_block(
    run: RunEvidence, capsys
) -> None:
    assert main(["report", str(run.path), "--markdown"]) == 0
    out = capsys.readouterr().out
    failed = commands(run)["failed"]
    assert out.startswith("## ⛔ dome release gate: REJECT (promotion: stop)")
    # The failure's first line is a code span: no table cell break, no live link.
    (item,) = [line for line in out.splitlines() if line.startswith(f"- `{HOSTILE_ID}`: ")]
    assert item.endswith("AssertionError: boom \\| [click](https://example.invalid)`"), item
    assert item.removeprefix(f"- `{HOSTILE_ID}`: ").startswith("`test_report.py:"), item
    assert "| command | status | exit code | duration |" in out
    assert f"| `python fail.py` | failed | 3 | {failed['duration_s']:.2f} s |" in out
    assert f"| `{SLEEP}` | timeout | - | " in out
    block = out.split("Output tail of `python fail.py` (failed):\n\n```text\n", 1)[1].split("\n```\n")[0]
    assert block.splitlines() == [
        "line one",
        "</pre><script>alert('out')</script> & done",
        "\\x1b[31mred\\x1b[0m",
        "token [REDACTED:github_token]",
    ]
    assert "| `VERIFY_FAILED` |" in out and "| `TASK_FAILED` |" in out
    assert SECRET not in out and "\x1b" not in out


class _Text(HTMLParser):
    """The text a browser shows, and every element's tag name."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_shows_the_verify_section_and_escapes_hostile_text(
    run: RunEvidence, tmp_path: Path, capsys
) -> None:
    page = tmp_path / "report.html"
    assert main(["report", str(run.path), "--html", str(page)]) == 0
    assert capsys.readouterr().out == f"written to {page}\n"
    source = page.read_text()
    parsed = _Text()
    parsed.feed(source)
    text = "".join(parsed.text)
    assert "script" not in parsed.tags  # the hostile task id and output stay text
    assert HOSTILE_ID in text and "</pre><script>alert('out')</script> & done" in text
    failed = commands(run)["failed"]
    assert "Verify commands (3)" in text
    assert f"python fail.pyfailed3{failed['duration_s']:.2f} s" in text  # one table row
    assert f"{SLEEP}timeout-" in text
    assert "output tail:line one\n</pre><script>alert('out')</script> & done\n" in text
    assert "\\x1b[31mred\\x1b[0m\ntoken [REDACTED:github_token]" in text
    assert "VERIFY_FAILED" in text and "TASK_FAILED" in text and "REJECT" in text
    assert SECRET not in source and "\x1b" not in source


def test_html_report_without_verify_commands_says_so(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile("def test_ok(): pass")
    pytester.runpytest("--dome-run-id=r1")
    page = tmp_path / "r.html"
    assert main(["report", str(pytester.path / "ops/runtime/runs/r1"), "--html", str(page)]) == 0
    assert '<h2>Verify commands (0)</h2><p class="muted">No verify command is configured.</p>' in (
        page.read_text()
    )


def test_replay_all_of_no_run_is_not_evidence(tmp_path: Path, capsys) -> None:
    """0 of 0 replayed runs is not 100 %: one line, exit 1, nothing on stdout."""
    (tmp_path / "killed").mkdir()  # a folder without a manifest: skipped
    for extra in ([], ["--json"]):
        assert main(["replay", "--all", str(tmp_path), *extra]) == 1
        out, err = capsys.readouterr()
        assert (out, err.splitlines()) == (
            "",
            [
                f"dome replay: no complete run to replay in {tmp_path} (1 skipped: partial or never "
                "committed); an empty history is not evidence of determinism: give the folder that "
                "holds the runs"
            ],
        )


def test_replay_all_shows_its_target_in_percent_like_its_rate(run: RunEvidence, capsys) -> None:
    assert main(["replay", "--all", str(run.path.parent)]) == 0
    out = capsys.readouterr().out
    assert "1/1 replayed runs gave the same gate status (100.00%; target >= 99.0%)" in out


def test_the_sessions_summaries_show_what_dome_report_shows(run: RunEvidence, capsys) -> None:
    assert main(["report", str(run.path)]) == 0
    report = capsys.readouterr().out.splitlines()
    out = session(run, "session.out").splitlines()
    start = out.index(report[0])
    # the same lines, but the run folder, shown relative to where pytest ran
    assert out[start : start + len(report)] == [*report[:-1], "evidence: ops/runtime/runs/r1"]
    assert main(["report", str(run.path), "--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert session(run, "summary.md") == markdown.replace(str(run.path), "ops/runtime/runs/r1")
