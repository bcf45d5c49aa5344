"""SLO reporting over run history, and the reports people read."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pytest_dome.cli.main import main

REASON = "risk accepted for this release by the release manager"
MONTH = datetime.now(timezone.utc).strftime("%Y-%m")


@pytest.fixture
def history(pytester: pytest.Pytester) -> Path:
    """Approved, rejected, needs-human, overridden, tampered and start-only runs."""
    pytester.makepyfile("def test_ok(): pass")
    ok = "--dome-verify=python -c pass"
    pytester.runpytest("--dome-run-id=approved", ok)
    pytester.runpytest("--dome-run-id=tampered", ok)
    pytester.runpytest("--dome-run-id=rejected", "--dome-verify=python -c 'raise SystemExit(1)'")
    pytester.runpytest("--dome-run-id=held", ok, "--dome-risk-threshold=0")
    pytester.runpytest("--dome-run-id=overridden", ok, "--dome-risk-threshold=0")
    runs = pytester.path / "ops/runtime/runs"
    assert main(["override", str(runs / "overridden"), "--actor", "rm", "--reason", REASON]) == 0
    (runs / "tampered/plan.json").write_text("{}")
    (runs / "killed").mkdir()
    shutil.copy(runs / "approved/run.started.json", runs / "killed/run.started.json")
    return runs


def slo(report: dict, name: str) -> dict:
    return next(s for s in report["slos"] if s["slo"] == name)


def test_slo_over_a_mixed_history(history: Path, tmp_path: Path, capsys) -> None:
    out, page = tmp_path / "m01" / "slo.json", tmp_path / "slo.html"
    assert main(["slo", str(history), "--month", MONTH, "--out", str(out), "--html", str(page)]) == 1
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["runs"] == 6
    assert (slo(report, "SLO-1")["good"], slo(report, "SLO-1")["counted"]) == (5, 6)
    assert slo(report, "SLO-1")["missed_runs"] == ["killed"] and not slo(report, "SLO-1")["met"]
    assert (slo(report, "SLO-2")["good"], slo(report, "SLO-2")["counted"]) == (4, 4)
    assert slo(report, "SLO-2")["not_replayable"] == ["tampered"]
    assert (slo(report, "SLO-3")["good"], slo(report, "SLO-3")["counted"]) == (1, 2)
    assert slo(report, "SLO-3")["missed_runs"] == ["tampered"]
    assert slo(report, "SLO-4")["value"] == 0 and slo(report, "SLO-4")["met"]
    assert "SLO-1 MISSED: 83.33% (5/6), target >= 99.9% (" in text and "SLO-4 met: 0 violations" in text
    # targets in the unit of their values, in the text and in the HTML alike
    html = page.read_text()
    assert "value 83.33%, target &gt;= 99.9%, runs counted 6" in html
    assert "value 100.00%, target &gt;= 99.0%, runs counted 4" in html
    assert "value 0 violations, target 0, runs counted 6" in html
    assert "0.999" not in html and "0.99," not in html


def test_slo_finds_a_secret_in_evidence(history: Path, capsys) -> None:
    (history / "approved/checks/note.txt").write_text("token ghp_" + "Z" * 36)
    main(["slo", str(history), "--month", MONTH, "--json", "--out", str(history.parent / "s.json")])
    report = json.loads(capsys.readouterr().out)
    assert slo(report, "SLO-4")["value"] >= 1 and slo(report, "SLO-4")["missed_runs"] == ["approved"]


@pytest.mark.parametrize("month", ["2026-13", "26-11", "november"])
def test_bad_month(tmp_path: Path, capsys, month: str) -> None:
    assert main(["slo", str(tmp_path), "--month", month]) == 2
    assert "is not a month; give YYYY-MM" in capsys.readouterr().err


def test_foreign_entries_in_a_runtime_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "odd").mkdir()
    assert main(["slo", str(tmp_path), "--month", MONTH]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("not a run folder" in line for line in err)


def test_terminal_review_and_github_step_summary(pytester: pytest.Pytester, monkeypatch) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makepyfile(
        "calls = []\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert 0, 'boom'\n"
        "def test_flaky(): calls.append(1); assert len(calls) > 1\n"
    )
    result = pytester.runpytest("--dome-run-id=r1", "-p", "no:xdist")
    # The session keeps only the results its summary names (failed or flaky).
    result.stdout.fnmatch_lines(
        [
            "decision: REJECT  (promotion: stop)",
            "risk score: * against threshold 50 (top factors: task_failure_rate *",
            "failed tasks (1): test_terminal_review_and_github_step_summary.py::test_bad",
            "flaky tasks (1): test_terminal_review_and_github_step_summary.py::test_flaky",
            "reason codes:",
            "  TASK_FAILED: At least one implementer task failed.",
            "evidence: ops/runtime/runs/r1",
        ]
    )
    md = summary.read_text()
    assert md.startswith("## ⛔ dome release gate: REJECT") and "| `TASK_FAILED` |" in md and "boom" in md


def _png_is_blank(png: bytes) -> bool:
    """Decode an 8-bit RGB(A) PNG with the standard library; blank = one colour."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _h, _depth, color = struct.unpack(">IIBB", data[:10])
            channels = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    rows = [raw[i + 1 : i + stride] for i in range(0, len(raw), stride)]
    return len({bytes(r) for r in rows}) <= 1  # filters aside, identical rows = one colour


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def in_ci() -> bool:
    """CI=true (GitHub Actions, GitLab, .ci/run) or CI=1."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def browser(found: str | None) -> str:
    """The browser the HTML reports are rendered in. Without one the browser test is
    skipped on a developer's machine and FAILS in CI (CI=true), where .ci/run
    installs Debian's chromium: HTML that no browser rendered must not pass unseen."""
    if found is not None:
        return found
    why = "Chromium is not installed, so the HTML reports were not rendered in a browser"
    if in_ci():
        pytest.fail(f"{why}; in CI it must be (apt-get install chromium, as .ci/run does)", pytrace=False)
    pytest.skip(f"{why} (.ci/run installs Debian's chromium; under CI=true this fails)")


@pytest.fixture
def chromium() -> str:
    return browser(CHROMIUM)


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_without_chromium_the_browser_test_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    outcome: BaseException | None = None
    try:  # not pytest.raises: a skip raised instead would skip this test, not fail it
        browser(None)
    except BaseException as exc:  # pytest's outcomes are BaseExceptions
        outcome = exc
    assert type(outcome) is pytest.fail.Exception, outcome
    assert "Chromium is not installed" in str(outcome) and "in CI it must be" in str(outcome)


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_without_chromium_the_browser_test_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="under CI=true this fails"):
        browser(None)
    assert browser("/usr/bin/chromium") == "/usr/bin/chromium"


@pytest.mark.parametrize("kind", ["run", "slo"])
def test_html_renders_in_a_real_browser(chromium: str, history: Path, tmp_path: Path, kind: str) -> None:
    page = tmp_path / f"{kind}.html"
    if kind == "run":
        assert main(["report", str(history / "rejected"), "--html", str(page)]) == 0
        expected = ["REJECT", "Verify commands (1)", "raise SystemExit(1)", "VERIFY_FAILED"]
    else:
        main(["slo", str(history), "--month", MONTH, "--out", str(tmp_path / "s.json"), "--html", str(page)])
        expected = ["an SLO was missed", "target &gt;= 99.9%"]
    assert "http" not in page.read_text().replace("http-equiv", "")  # no external resources
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert all(text in dom.stdout for text in expected), dom.stdout
    assert "Uncaught" not in dom.stderr and ":CONSOLE(" not in dom.stderr
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert not _png_is_blank(shot.read_bytes())
