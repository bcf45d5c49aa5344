"""One writer: every file dome writes goes through ``runfolder/writer.py`` (with its
second module ``lifecycle.py`` and its helper process ``_writer.py``).

The scan reads each module's syntax tree, not its text, so it sees a write however
the line is spelled: ``write_text``/``write_bytes``, ``open`` (builtin, ``Path.open``,
``os.fdopen``, ``io``/``codecs``/``gzip``... ``open``) in a writing mode, ``os.open``
with a writing flag (module constants followed), ``os.replace``/``rename``/``remove``,
``Path.replace``/``rename``, ``unlink``, ``rmtree``, ``mkdir``/``makedirs``/``rmdir``,
``touch``, ``shutil`` copies and moves, and ``tempfile``'s files.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pytest_dome"

WRITER = frozenset({"runfolder/writer.py", "runfolder/lifecycle.py", "runfolder/_writer.py"})
"""The writer: artifacts, the manifest and files outside a run folder (writer.py), a
run folder's lock, probe, fresh folder and replaced run (lifecycle.py), and the
task-result helper process (_writer.py)."""

EXCEPTIONS: dict[str, str] = {}
"""Module -> why it may write a file itself. Keep it short; docs/design.md lists it."""

ANYWHERE = frozenset(
    {"write_text", "write_bytes", "unlink", "rmtree", "mkdir", "makedirs", "rmdir", "removedirs", "touch"}
    | {"symlink_to", "hardlink_to", "mkstemp", "mkdtemp", "mkfifo", "copyfile", "copytree", "copy2"}
    | {"NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile", "TemporaryDirectory"}
)
OF_MODULE = {
    "os": {"replace", "rename", "renames", "remove", "link", "symlink", "truncate"},
    "shutil": {"move", "copy", "copymode", "copystat"},
}
OPENERS = {"io", "codecs", "gzip", "bz2", "lzma", "tarfile"}  # module.open(path, mode)
WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_EXCL", "O_TMPFILE"}
READ_FLAGS = {"O_RDONLY", "O_NONBLOCK", "O_CLOEXEC", "O_DIRECTORY", "O_NOFOLLOW", "O_NOCTTY", "O_BINARY"}


def _names(node: ast.AST, constants: dict[str, ast.expr], seen: frozenset[str] = frozenset()) -> set[str]:
    """The flag names in an ``os.open`` flags expression, module constants followed;
    ``"?"`` for a name that cannot be followed (a parameter, a local)."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr.startswith("O_"):
            found.add(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value.startswith("O_"):
            found.add(sub.value)  # getattr(os, "O_NOFOLLOW", 0)
        elif isinstance(sub, ast.Name) and sub.id not in {"os", "getattr"}:
            if sub.id.startswith("O_"):
                found.add(sub.id)
            elif sub.id in constants and sub.id not in seen:
                found |= _names(constants[sub.id], constants, seen | {sub.id})
            else:
                found.add("?")
    return found


def _writing_mode(mode: ast.expr | None) -> bool:
    if mode is None:
        return False  # the default: read
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in "wax+")
    return True  # not a literal: it may write


def writes(source: str) -> list[tuple[int, str]]:
    """Each call in ``source`` that writes, removes or makes a file or folder: (line, what)."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> module (import os as x)
    imported: dict[str, str] = {}  # local name -> module.function (from os import replace)
    constants: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func, kw = node.func, {k.arg: k.value for k in node.keywords}
        module = name = None
        if isinstance(func, ast.Attribute):
            name = func.attr
            if isinstance(func.value, ast.Name) and func.value.id in modules:
                module = modules[func.value.id]
        elif isinstance(func, ast.Name):
            module, _, name = imported.get(func.id, f".{func.id}").rpartition(".")
        if name is None:
            continue
        what = None
        if name in ANYWHERE or name in OF_MODULE.get(module or "", ()):
            what = name
        elif name in {"rename", "replace"} and module is None and isinstance(func, ast.Attribute):
            if name == "rename" or (len(node.args) == 1 and not node.keywords):  # not str.replace(a, b)
                what = f"Path.{name}"
        elif name == "open" and module == "os":
            flags = node.args[1] if len(node.args) > 1 else kw.get("flags")
            names = _names(flags, constants) if flags is not None else {"?"}
            if names & WRITE_FLAGS or names - READ_FLAGS:
                what = "os.open for writing"
        elif name in {"open", "fdopen"}:
            at = 1 if module in OPENERS | {"", "os"} or isinstance(func, ast.Name) else 0
            mode = kw.get("mode", node.args[at] if len(node.args) > at else None)
            if _writing_mode(mode):
                what = f"{name} in a writing mode"
        if what is not None:
            found.append((node.lineno, what))
    return found


def scan(package: Path = PACKAGE) -> dict[str, list[tuple[int, str]]]:
    hits = {}
    for path in sorted(package.rglob("*.py")):
        found = writes(path.read_text(encoding="utf-8"))
        if found:
            hits[path.relative_to(package).as_posix()] = found
    return hits


def test_only_the_writer_writes_files() -> None:
    outside = {
        module: found for module, found in scan().items() if module not in WRITER and module not in EXCEPTIONS
    }
    assert not outside, "files written outside the writer (runfolder/writer.py): " + "; ".join(
        f"{module}:{line} {what}" for module, found in outside.items() for line, what in found
    )


def test_the_scan_sees_the_writer_write() -> None:
    hits = scan()
    assert set(WRITER) <= set(hits)  # a scan that sees nothing passes for the wrong reason
    assert {what for _, what in hits["runfolder/_writer.py"]} == {"os.open for writing"}
    assert "os.open for writing" in {what for _, what in hits["runfolder/lifecycle.py"]}


def test_the_exceptions_are_few_and_each_still_writes() -> None:
    hits = scan()
    assert len(EXCEPTIONS) <= 3
    for module, reason in EXCEPTIONS.items():
        assert module in hits, f"{module} no longer writes: drop it from EXCEPTIONS"
        assert len(reason.split()) >= 5, f"{module}: say why it writes for itself"


WRITES = {
    "path.write_text('x')": "write_text",
    "(root / 'a').write_bytes(b'')": "write_bytes",
    "open(p, 'w')": "open in a writing mode",
    "open(p, mode='ab')": "open in a writing mode",
    "open(p, 'r+b')": "open in a writing mode",
    "open(p, m)": "open in a writing mode",
    "p.open('x')": "open in a writing mode",
    "import gzip\ngzip.open(p, 'wb')": "open in a writing mode",
    "import os\nos.fdopen(fd, 'w')": "fdopen in a writing mode",
    "import os\nos.open(p, os.O_WRONLY | os.O_CREAT)": "os.open for writing",
    "import os\nFLAGS = os.O_CREAT | getattr(os, 'O_CLOEXEC', 0)\nos.open(p, FLAGS)": "os.open for writing",
    "import os\ndef f(flags):\n    os.open(p, flags)": "os.open for writing",
    "import os\nos.replace(a, b)": "replace",
    "from os import replace\nreplace(a, b)": "replace",
    "import os as o\no.remove(p)": "remove",
    "p.rename(q)": "Path.rename",
    "p.replace(q)": "Path.replace",
    "p.unlink(missing_ok=True)": "unlink",
    "import shutil\nshutil.rmtree(p)": "rmtree",
    "from shutil import rmtree\nrmtree(p)": "rmtree",
    "import shutil\nshutil.move(a, b)": "move",
    "p.mkdir(parents=True)": "mkdir",
    "import os\nos.makedirs(p)": "makedirs",
    "import tempfile\ntempfile.NamedTemporaryFile('w')": "NamedTemporaryFile",
}
READS = [
    "open(p)",
    "open(p, 'rb')",
    "p.open()",
    "p.open('rb')",
    "import os\nos.fdopen(fd, 'rb')",
    "import os\nos.open(p, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))",
    "import os\n_F = os.O_RDONLY | os.O_CLOEXEC\nos.open(p, _F)",
    "text.replace('a', 'b')",
    "when.replace(tzinfo=None)",
    "items.remove(x)",
    "fh.write(data)",
]


@pytest.mark.parametrize("code", list(WRITES))
def test_the_scan_finds_each_kind_of_write(code: str) -> None:
    assert [what for _, what in writes(textwrap.dedent(code))] == [WRITES[code]]


@pytest.mark.parametrize("code", READS)
def test_the_scan_lets_reads_be(code: str) -> None:
    assert writes(code) == []


WRITER_CALLS = {"atomic_write", "write_output", "write_together", "write_data", "write_document", "write"}


def manifest_renderers(source: str) -> list[int]:
    """Lines that write the manifest, or render or hash its artifact list, by hand."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        args = [*node.args, *(k.value for k in node.keywords)]
        mentions = {n.id for a in args for n in ast.walk(a) if isinstance(n, ast.Name)}
        mentions |= {n.value for a in args for n in ast.walk(a) if isinstance(n, ast.Constant)}
        if (name in WRITER_CALLS and {"MANIFEST", "run.manifest.json"} & mentions) or (
            name in {"render_parts", "canonical_digest"} and "artifacts" in mentions
        ):
            found.append(node.lineno)
    return found


def test_one_function_renders_the_manifest() -> None:
    """The session, ``dome merge`` and ``dome override`` all commit through
    ``writer.write_manifest``: no other module writes it or renders its list."""
    elsewhere = {
        path.relative_to(PACKAGE).as_posix(): lines
        for path in PACKAGE.rglob("*.py")
        if path.name != "writer.py" and (lines := manifest_renderers(path.read_text(encoding="utf-8")))
    }
    assert elsewhere == {}
    writer = (PACKAGE / "runfolder/writer.py").read_text(encoding="utf-8")
    tree = ast.parse(writer)
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "write_manifest"]
    assert manifest_renderers(writer) and all(
        function.lineno <= line <= (function.end_lineno or 0) for line in manifest_renderers(writer)
    )


def test_override_writes_the_manifest_the_session_writes(pytester: pytest.Pytester, dome_run) -> None:
    """Both commits give the bytes the pydantic model renders, entries in path order,
    and the override changes only the entries of the files it wrote again."""
    import json

    from pytest_dome.cli.main import main
    from pytest_dome.contracts.models import RunManifest
    from pytest_dome.runfolder.reader import manifest_digest
    from pytest_dome.runfolder.writer import render

    pytester.makepyfile(
        "import pytest\ndef test_ok(): pass\n@pytest.mark.parametrize('n', [1, 2])\ndef test_n(n): pass"
    )
    pytester.runpytest("--dome-run-id=r1", "--dome-risk-threshold=0")
    run = pytester.path / "ops/runtime/runs/r1"
    docs = []
    for step in ("session", "override"):
        if step == "override":
            reason = "risk accepted: tracked in REL-42"
            assert main(["override", str(run), "--actor", "rm", "--reason", reason]) == 0
        data = (run / "run.manifest.json").read_bytes()
        doc = json.loads(data)
        assert data == render(RunManifest.model_validate(doc)), step
        assert doc["manifest_digest"] == manifest_digest(doc), step
        paths = [e["path"] for e in doc["artifacts"]]
        assert paths == sorted(paths) and sum(p.startswith("task_results/") for p in paths) == 3, step
        docs.append(doc)
    dome_run("r1")  # verifies and replays
    session, override = ({e["path"]: e for e in d.pop("artifacts")} for d in docs)
    first, second = (d.pop("manifest_digest") for d in docs)
    assert first != second and docs[0] == docs[1]  # the rest of the manifest is kept as it was
    changed = {p for p in override if session.get(p) != override[p]}
    assert changed == {
        "promotion/overrides.jsonl",
        "promotion/promotion.decision.json",
        "promotion/xtrlv2.envelope.json",
    }
