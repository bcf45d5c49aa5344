"""Real public test suites for the benchmark: a pinned sdist from PyPI, unpacked and
run from its own folder by a virtual environment of its own.

The generated suites measure dome's cost per test on tests that do nothing; a real
suite says what a project would see. Each one is set up once and kept in a cache
folder (default ``ops/runtime/bench/venvs/``, ignored by git), named after a digest
of everything that decides what it runs: the sdist's version, the pins below, the
Python and this repository's path and ``pyproject.toml``. A later run reuses it when
its ``ready.json`` says the same; anything else is set up anew.

Setting up one suite:

1. ``python -m venv``, then ``pip download --no-binary DIST --no-deps DIST==VERSION``
   and the sdist unpacked (its tests and data come with it);
2. a ``pytest.ini`` of one line written into the unpacked folder: it is the rootdir
   and the configuration, whatever the sdist or a folder above it (this repository's
   ``pyproject.toml``, with ``filterwarnings = error`` and ``testpaths``) says;
3. ``pip install -c <pins>``: the dist itself (its runtime dependencies), what its
   tests import, pytest, pytest-xdist, the peers (pytest-reportlog, pytest-json-report)
   and pytest-dome from this repository, editable
   (so every run measures the ``src/`` of the checkout, as the generated suites do);
   then ``pip freeze`` is checked against the pins;
4. ``pytest --collect-only -q`` counts the tests (and writes the ``.pyc`` of every
   test module, which the timed runs then reuse).

The tests import the package from the unpacked folder (``python -m pytest`` puts the
current folder first on ``sys.path``), the same version as the one installed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PINS: dict[str, str] = {
    # the runner
    "pytest": "9.0.3",
    "pluggy": "1.6.0",
    "iniconfig": "2.3.0",
    "packaging": "26.2",
    "pygments": "2.19.2",
    "pytest-xdist": "3.8.0",
    "execnet": "2.1.2",
    # the peers dome is measured beside (issue 22): pytest-reportlog, pytest-json-report
    # and the pytest-metadata it depends on
    "pytest-reportlog": "1.0.0",
    "pytest-json-report": "1.5.0",
    "pytest-metadata": "3.1.1",
    # jsonschema and its runtime dependencies
    "jsonschema": "4.25.1",
    "attrs": "26.1.0",
    "jsonschema-specifications": "2025.9.1",
    "referencing": "0.37.0",
    "rpds-py": "0.30.0",
    # what jsonschema's tests import besides
    "jsonpath-ng": "1.7.0",
    "ply": "3.11",
    # what packaging's tests import besides (packaging itself is pytest's, above)
    "pretend": "1.0.9",
    "tomli-w": "1.2.0",
    # dateparser, its runtime dependencies and what its tests import besides
    "dateparser": "1.5.0",
    "python-dateutil": "4.0.0",
    "pytz": "2026.6",
    "regex": "2026.12.2",
    "tzlocal": "5.4.5",
    "tzdata": "2026.6",
    "parameterized": "0.9.0",
    # pytest-dome's own dependencies
    "pydantic": "2.13.4",
    "pydantic-core": "2.46.4",
    "annotated-types": "0.7.0",
    "typing-extensions": "4.15.0",
    "typing-inspection": "0.4.2",
    "fastjsonschema": "2.22.3",
}
"""Every distribution a real suite's venv installs, so that runs compare."""


@dataclass(frozen=True)
class Spec:
    key: str
    dist: str
    version: str
    requires: tuple[str, ...]  # what the tests import besides the dist's own dependencies
    args: tuple[str, ...]  # what pytest is given in the unpacked folder: test paths, --ignore=...
    env: tuple[tuple[str, str], ...] = ()  # variables whose value is a path in the folder
    note: str = ""


DATEPARSER_TESTS = (
    "tests/test_data.py",  # 20,200 tests, about 170 µs each: the language data, locale by locale
    "tests/test_timezone_parser.py",
    "tests/test_parser.py",
    "tests/test_settings.py",
    "tests/test_utils_strptime.py",
    "tests/test_loading.py",
)
SPECS: dict[str, Spec] = {
    "jsonschema": Spec(
        key="jsonschema",
        dist="jsonschema",
        version=PINS["jsonschema"],
        requires=("jsonpath-ng",),
        args=("jsonschema/tests",),
        # The tests find the JSON-Schema-Test-Suite (json/ in the sdist) beside the
        # imported package; the variable makes it explicit, as jsonschema's noxfile does.
        env=(("JSON_SCHEMA_TEST_SUITE", "json"),),
        note="jsonschema's own tests and the JSON-Schema-Test-Suite (json/), no format extras",
    ),
    "packaging": Spec(
        key="packaging",
        dist="packaging",
        version=PINS["packaging"],
        requires=("pretend", "tomli-w"),
        # Its pyproject's settings (filterwarnings = error, --strict-config, -m "not
        # property", ...) give way to the pytest.ini; test_version.py (51,514 tests,
        # a minute a run) and the opt-in property tests (hypothesis) are left out.
        args=("--ignore=tests/test_version.py", "--ignore=tests/property", "tests"),
        note="packaging's own tests but test_version.py and the property tests (src layout: "
        "the tests import the installed packaging, the same version)",
    ),
    "dateparser": Spec(
        key="dateparser",
        dist="dateparser",
        version=PINS["dateparser"],
        requires=("parameterized",),
        # The fast files of its tests: the whole folder (25,303 tests) takes over a minute
        # serially, most of it in a few hundred slow parser, search and linear-time tests.
        args=DATEPARSER_TESTS,
        note="dateparser's own tests of its language data, timezones, parser, settings, strptime "
        "and loading (20,575 fast tests; the slow parser, search and linear-time files left out)",
    ),
}
DEFAULT = ("jsonschema", "dateparser")
"""The real suites of a plain run: jsonschema's 7,815 tests and dateparser's 20,575."""
PEERS = ("pytest-reportlog", "pytest-json-report")
"""The reporters every real suite's venv installs, to run beside dome (bench_variants.py)."""


@dataclass
class Prepared:
    spec: Spec
    folder: Path  # the unpacked sdist, where pytest runs
    python: Path  # the venv's interpreter
    env: dict[str, str]  # to add to the runs' environment
    tests: int
    versions: dict[str, str]  # pip freeze of the venv (pytest-dome as "editable <path>")
    reused: bool
    setup_s: float
    collect_s: float
    unpinned: list[str] = field(default_factory=list)

    @property
    def args(self) -> tuple[str, ...]:
        return self.spec.args

    def info(self) -> dict[str, Any]:
        return {
            "dist": self.spec.dist,
            "version": self.spec.version,
            "note": self.spec.note,
            "folder": str(self.folder),
            "python": str(self.python),
            "args": list(self.spec.args),
            "env": self.env,
            "tests_collected": self.tests,
            "versions": self.versions,
            "unpinned": self.unpinned,
            "reused_venv": self.reused,
            "setup_s": round(self.setup_s, 1),
            "collect_s": round(self.collect_s, 2),
        }


INI = (
    "# Written by pytest-dome's benchmark (benchmarks/bench_real.py): this folder is the\n"
    "# rootdir and nothing else configures pytest here (no config of the sdist or above).\n"
    "[pytest]\n"
)


def _digest(spec: Spec, repo: Path) -> dict[str, Any]:
    pyproject = (repo / "pyproject.toml").read_bytes()
    return {
        "spec": [spec.dist, spec.version, list(spec.requires), list(spec.args), list(spec.env)],
        "pins": PINS,
        "python": sys.version,
        "repo": str(repo),
        "repo_pyproject_sha256": hashlib.sha256(pyproject).hexdigest(),
        "ini": INI,
    }


def _run(argv: list[str], log: Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    with open(log, "a") as out:
        out.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise RuntimeError(f"{argv[2:5]} failed (exit {done.returncode}), see {log}:\n{tail}")
    return done.stdout


def _unpack(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        top = {name.split("/", 1)[0] for name in tar.getnames()}
        if len(top) != 1:
            raise RuntimeError(f"{archive.name}: expected one top folder, found {sorted(top)}")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - Python without the extraction filters
            tar.extractall(into)  # an sdist of a pinned version from PyPI
    return into / top.pop()


def _freeze(python: Path, log: Path) -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in _run([str(python), "-m", "pip", "freeze", "--all"], log).splitlines():
        if line.startswith("-e "):
            versions["pytest-dome"] = "editable " + line[3:].strip()
        elif "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            versions[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return versions


def count_tests(prepared_python: Path, folder: Path, spec: Spec, env: dict[str, str], log: Path) -> int:
    """``pytest --collect-only -q`` in the folder; the count from its last line."""
    argv = [str(prepared_python), "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist"]
    argv += ["--collect-only", "-q", *spec.args]
    out = _run(argv, log, cwd=folder, env=env)
    match = re.search(r"(\d+) tests? collected", out)
    if not match:
        raise RuntimeError(f"{spec.key}: no count in the collection's output, see {log}")
    return int(match.group(1))


def prepare(
    spec: Spec, cache: Path, repo: Path, base_env: dict[str, str], say: Callable[[str], None]
) -> Prepared:
    """Set up (or reuse) the suite's venv and unpacked sdist, and count its tests."""
    start = time.perf_counter()
    wanted = json.loads(json.dumps(_digest(spec, repo)))  # as ready.json will read back
    tag = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:10]
    root = cache / f"{spec.key}-{spec.version}-{tag}"
    marker = root / "ready.json"
    venv = root / "venv"
    python = venv / "bin" / "python"
    log = root / "setup.log"
    reused = False
    try:
        reused = json.loads(marker.read_text()).get("digest") == wanted and python.is_file()
    except (OSError, ValueError):
        pass
    if reused:
        folder = Path(json.loads(marker.read_text())["folder"])
        say(f"{spec.key}: reusing {root}")
    else:
        say(f"{spec.key}: setting up {root} (venv, sdist {spec.dist}=={spec.version}, pinned install)")
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        _run([sys.executable, "-m", "venv", str(venv)], log)
        pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
        downloads = root / "sdist"
        sdist = f"{spec.dist}=={spec.version}"
        # The sdist only (--no-binary of the dist, not :all:, which would build pip's
        # metadata step's build backend, hatchling and its plugins, from sources too).
        _run([*pip, "download", "--no-binary", spec.dist, "--no-deps", sdist, "-d", str(downloads)], log)
        archives = sorted(downloads.glob("*.tar.gz"))
        if len(archives) != 1:
            raise RuntimeError(f"{spec.key}: expected one sdist in {downloads}, found {archives}")
        folder = _unpack(archives[0], root)
        (folder / "pytest.ini").write_text(INI)
        pins = root / "constraints.txt"
        pins.write_text("".join(f"{name}=={version}\n" for name, version in PINS.items()))
        requirements = [f"{spec.dist}=={spec.version}", *spec.requires, "pytest", "pytest-xdist", *PEERS]
        _run([*pip, "install", "-c", str(pins), *requirements, "-e", str(repo)], log)
    versions = _freeze(python, log)
    off = {n: (versions.get(n), v) for n, v in PINS.items() if n in versions and versions[n] != v}
    if off:
        raise RuntimeError(f"{spec.key}: the venv {venv} does not match the pins: {off}")
    tools = {"pip", "setuptools", "wheel", "pytest-dome"}
    unpinned = sorted(n for n in versions if n not in PINS and n not in tools)
    if unpinned:
        say(f"{spec.key}: installed without a pin: {', '.join(unpinned)}")
    if not reused:
        marker.write_text(json.dumps({"digest": wanted, "folder": str(folder)}, indent=2) + "\n")
        for stale in cache.glob(f"{spec.key}-[0-9]*"):  # the same suite's venvs of older pins
            if stale != root and (stale / "venv").is_dir():
                say(f"{spec.key}: removing the outdated {stale}")
                shutil.rmtree(stale, ignore_errors=True)
    env = {name: str(folder / value) for name, value in spec.env}
    t = time.perf_counter()
    tests = count_tests(python, folder, spec, {**base_env, **env}, log)
    collect_s = time.perf_counter() - t
    say(f"{spec.key}: {tests} tests collected in {collect_s:.1f} s")
    return Prepared(spec, folder, python, env, tests, versions, reused, t - start, collect_s, unpinned)
