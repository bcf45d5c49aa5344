"""The manual's console examples, run: README.md and docs/*.md are parsed with Sybil and
every fenced ``console`` block is a test.

The convention (also in CONTRIBUTING.md):

- A line starting with ``$ `` is a command, run by bash in a fresh copy of a small
  project (``PROJECT`` below); lines starting with ``> `` right after it continue it.
  ``pytest``, ``dome`` and ``python3`` are this checkout's; a gated run uses the
  default fanout (two xdist workers), as a user's does, unless the example itself
  says otherwise (``-n 0``, ``-p no:xdist``). Every command must exit 0: show
  another status with ``; echo $?`` (the status is then part of the output).
- The lines up to the next command are its expected output (stdout and stderr
  together, in the order they were written, trailing spaces ignored), with these
  placeholders for what varies: a line ``...`` stands for any number of lines, but
  never for a traceback or an ``INTERNALERROR`` line; ``<digest>`` for hex digits,
  ``<n>`` for a number (a duration, a pid), ``<timestamp>`` for a UTC time
  (``2026-11-24T11:30:46.920034Z``), ``<path>`` for one word without spaces.
- Where the text says a message goes to standard error, the example shows that
  stream alone, as a user would: ``>/dev/null`` sends standard output away (what is
  left is standard error), ``2>/dev/null`` the other way round. Where the text
  promises one line, the example has no ``...``. Both are checked below, and so is
  the number of examples in each file.
- A run id of ``RUNS`` that the block names is copied into the project first
  (recorded once per worker), unless the block creates it (``--dome-run-id=ID``).
"""

from __future__ import annotations

import difflib
import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sybil import Document, Example
from sybil.parsers.markdown import CodeBlockParser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

PROJECT = {
    "pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['tests']\n",
    "tests/test_app.py": (
        "import pytest\n\n\n"
        "def total(xs):\n    return sum(xs)\n\n\n"
        "def test_total():\n    assert total([1, 2]) == 3\n\n\n"
        "def test_empty():\n    assert total([]) == 0\n\n\n"
        "@pytest.mark.parametrize('n', [1, 2, 3])\n"
        "def test_one(n):\n    assert total([n]) == n\n\n\n"
        "@pytest.mark.skip(reason='needs a database')\n"
        "def test_db():\n    pass\n"
    ),
    "deploy.sh": "#!/bin/sh\necho deploying\n",
}
"""The project every example starts from: six tests, one of them skipped."""

FAILING = {"tests/test_app.py": PROJECT["tests/test_app.py"].replace("== 3\n", "== 4\n", 1)}
VERIFY = "--dome-verify=python3 -m compileall -q tests"

RUNS: dict[str, tuple[dict[str, str], list[str]]] = {
    "rc-2026-11-24.1": ({}, [VERIFY]),
    "rc-2026-11-24.2": (FAILING, [VERIFY]),
    "rc-42": ({}, [VERIFY, "--dome-risk-threshold=3"]),
}
"""Recorded runs examples may refer to: files changed from PROJECT, pytest arguments."""

PLACEHOLDERS = {
    "<digest>": r"[0-9a-f]+",
    "<n>": r"\d+(?:\.\d+)?",
    "<timestamp>": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z",
    "<path>": r"\S+",
}
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))


ANY_LINES = r"(?:(?!Traceback \(most recent call last\)|INTERNALERROR)[^\n]*\n)*?"
"""What a ``...`` line matches: any lines, but not a traceback or pytest's INTERNALERROR."""


def _line_pattern(line: str) -> str:
    if line == "...":
        return ANY_LINES
    parts, end = [], 0
    for m in _PLACEHOLDER.finditer(line):
        parts += [re.escape(line[end : m.start()]), PLACEHOLDERS[m.group()]]
        end = m.end()
    return "".join([*parts, re.escape(line[end:])]) + r"\n"


def matches(expected: list[str], output: str) -> bool:
    """Does ``output`` fit the expected lines, placeholders and all?"""
    text = "".join(line.rstrip() + "\n" for line in output.splitlines())
    return re.fullmatch("".join(_line_pattern(line.rstrip()) for line in expected), text) is not None


def session(source: str) -> list[tuple[str, list[str]]]:
    """The (command, expected output lines) pairs of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif line.startswith("> ") and steps and not steps[-1][1]:
            steps[-1] = (steps[-1][0] + "\n" + line[2:], [])
        elif steps:
            steps[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"console block line before any '$ ' command: {line!r}")
    return steps


def _environment(bin_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "GITHUB_", "DOME_", "COV_")) and k not in ("CI", "COLUMNS")
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]),
        COLUMNS="80",
        # The default fanout, as users run; no plugin of this machine that prints
        # lines of its own or reorders the tests.
        PYTEST_ADDOPTS="-p no:benchmark -p no:randomly",
    )
    return env


def evaluate(example: Example) -> str | None:
    """Sybil evaluator: run the block's commands in the example's project, in order."""
    project: Path = example.namespace["project"]
    env: dict[str, str] = example.namespace["env"]
    for command, expected in session(example.parsed):
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            return f"$ {command}\nexited {done.returncode} (show it with '; echo $?'):\n{done.stdout}"
        if not matches(expected, done.stdout):
            diff = difflib.unified_diff(expected, done.stdout.splitlines(), "expected", "got", lineterm="")
            return f"$ {command}\n" + "\n".join(diff)
    return None


def _examples() -> list[Example]:
    parser = CodeBlockParser(language="console", evaluator=evaluate)
    return [ex for path in DOCS for ex in Document.parse(str(path), parser).examples()]


EXAMPLES = _examples()


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
        if name.endswith(".sh"):
            (folder / name).chmod(0o755)


@pytest.fixture(scope="session")
def docs_tools(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Shims for ``pytest`` and ``dome`` (this interpreter, this checkout), the environment."""
    bin_dir = tmp_path_factory.mktemp("docs-bin")
    for name, run in (("pytest", "-m pytest"), ("dome", "-m pytest_dome"), ("python3", "")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" {run} "$@"\n')
        (bin_dir / name).chmod(0o755)
    return bin_dir, _environment(bin_dir)


@pytest.fixture(scope="session")
def recorded_run(tmp_path_factory: pytest.TempPathFactory, docs_tools: tuple[Path, dict[str, str]]):
    """The run folder of a run of ``RUNS``, recorded on first use, once for all xdist
    workers of the session (in their common temporary folder, under a lock)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    shared = shared / "docs-runs"
    shared.mkdir(exist_ok=True)

    def get(run_id: str) -> Path:
        where = shared / run_id
        run_dir = where / "ops/runtime/runs" / run_id
        with open(shared / f"{run_id}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (run_dir / "run.manifest.json").is_file():
                files, args = RUNS[run_id]
                _write(where, {**PROJECT, **files})
                subprocess.run(
                    [sys.executable, "-m", "pytest", "-q", f"--dome-run-id={run_id}", *args],
                    cwd=where,
                    env=docs_tools[1],
                    stdout=subprocess.DEVNULL,
                    check=False,
                )
        assert (run_dir / "run.manifest.json").is_file(), f"recording {run_id} failed"
        return run_dir

    return get


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"{Path(e.path).relative_to(ROOT)}:{e.line}" for e in EXAMPLES]
)
def test_console_example(example: Example, tmp_path: Path, docs_tools, recorded_run) -> None:
    _write(tmp_path, PROJECT)
    for run_id in RUNS:
        if run_id in example.parsed and f"--dome-run-id={run_id}" not in example.parsed:
            shutil.copytree(recorded_run(run_id), tmp_path / "ops/runtime/runs" / run_id)
    example.namespace.update(project=tmp_path, env=docs_tools[1])
    example.evaluate()


def test_placeholders_match_only_what_they_stand_for() -> None:
    assert matches(["a <digest> b", "...", "in <n>s"], "a 0f9e b\nx\ny\nin 1.25s\n")
    assert matches(["...", "end"], "end\n")
    assert not matches(["a <digest> b"], "a xyz b\n")
    assert not matches(["exit 4"], "exit 4\nmore\n")
    assert not matches(["<path>"], "two words\n")


def test_an_ellipsis_never_swallows_a_traceback() -> None:
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\n'
    assert not matches(["...", "ERROR: one line", "...", "4"], f"ERROR: one line\n{traceback}4\n")
    assert not matches(["...", "4"], "INTERNALERROR> Traceback\n4\n")
    assert matches(["...", "ERROR: one line", "...", "4"], "collected 0 items\nERROR: one line\n\n4\n")


EXPECTED_EXAMPLES = {
    "README.md": 2,
    "docs/attestations.md": 3,
    "docs/baseline.md": 2,
    "docs/ci.md": 2,
    "docs/configuration.md": 11,
    "docs/evidence.md": 2,
    "docs/gate-policy.md": 1,
    "docs/history.md": 7,
    "docs/override.md": 3,
    "docs/packets.md": 6,
    "docs/plugins.md": 1,
    "docs/quarantine.md": 1,
    "docs/quickstart.md": 5,
    "docs/security.md": 3,
    "docs/slo.md": 2,
}
"""The console examples of each file: a block whose fence lost its ``console`` label
(then nothing runs it) shows here."""


def test_every_example_is_collected() -> None:
    found: dict[str, int] = {}
    for example in EXAMPLES:
        name = Path(example.path).relative_to(ROOT).as_posix()
        found[name] = found.get(name, 0) + 1
    assert found == EXPECTED_EXAMPLES
    assert len(EXAMPLES) == sum(EXPECTED_EXAMPLES.values())


def _lead_in(example: Example) -> str:
    """The paragraph just above an example's block (what the text says of it)."""
    before = example.document.text[: example.start].rstrip()
    return " ".join(before.rsplit("\n\n", 1)[-1].split())


def test_the_text_around_an_example_holds_for_the_example() -> None:
    wrong = []
    for example in EXAMPLES:
        where = f"{Path(example.path).relative_to(ROOT)}:{example.line}"
        lead_in, commands = _lead_in(example), [c for c, _ in session(example.parsed)]
        if "standard error" in lead_in and not any(">/dev/null" in c for c in commands):
            wrong.append(f"{where}: the text speaks of standard error; show it alone (>/dev/null)")
        if "one line" in lead_in and any(line.strip() == "..." for line in example.parsed.splitlines()):
            wrong.append(f"{where}: the text promises one line; '...' may hide more")
    assert wrong == []


def _first_column(text: str, header: str) -> list[str]:
    table = text.split(header + "\n", 1)[1].split("\n\n", 1)[0]
    return [row.split(" | ")[0].removeprefix("| ") for row in table.splitlines()[1:]]


def test_the_performance_verdicts_name_every_target() -> None:
    """Each target of the benchmark report has its verdict, failed or not."""
    text = (ROOT / "docs/performance.md").read_text()
    targets = _first_column(text, "| target | limit |")
    verdicts = _first_column(text, "| target (issue 13) | result |")
    assert len(targets) == 11
    assert [t for t in targets if t not in verdicts] == []
    # Issue 22's (the real suites against the peers of the same round) have their own table.
    assert len(_first_column(text, "| target (issue 22) | limit |")) == 5
