"""Fuzzing the readers of a run folder with real runs, mutated: every case ends in a
one-line refusal (non-zero exit, no traceback) or in a result, never in a hang.

The runs are made once per session by real gated pytest runs (REJECT with a
baseline, APPROVE, NEEDS_HUMAN, NEEDS_HUMAN overridden, the two shards of a run)
and an unsigned attestation of the approved one. Each case copies one of them,
mutates the copy (truncations, byte flips, NaN and out-of-range numbers, deep
nesting, FIFOs, symbolic links, huge files, files of another run, wrong JSON
values, missing files, folders), re-hashes the manifest or not, and runs one
`dome` command on it in-process.

DOME_FUZZ_EXAMPLES sets the number of cases (default 300); `just fuzz` runs thousands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_dome.runfolder.safejson import LIMITS, limit_of

from .fuzzruns import REASON, RUNS, Runs, cli, deadline, rehash

EXAMPLES = int(os.environ.get("DOME_FUZZ_EXAMPLES", "300"))


# --- mutations ------------------------------------------------------------------

NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "9007199254740993"]
NUMBERS += ["1" * 30, "-0", "0.0", "-1", "1e-400", "123456789012345678901234567890.5"]
_NUMBER = re.compile(rb"(?<=[:\[,] )-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|(?<=[:\[,])-?\d+(?:\.\d+)?")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
pick = st.integers(0, 10**6)
mutation = st.one_of(
    st.tuples(st.just("truncate"), pick, st.floats(0, 1)),
    st.tuples(st.just("flip"), pick, st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("number"), pick, st.integers(0, 40), st.sampled_from(NUMBERS)),
    st.tuples(st.just("deep"), pick, st.sampled_from([65, 1000, 100_000]), st.booleans()),
    st.tuples(st.just("fifo"), pick),
    st.tuples(st.just("symlink"), pick, st.sampled_from(["sibling", "outside", "dev", "folder", "dangling"])),
    st.tuples(st.just("huge"), pick, st.sampled_from(["kind", "any"])),
    st.tuples(st.just("swap"), pick, st.sampled_from(sorted(RUNS))),
    st.tuples(st.just("value"), pick, pick, json_values),
    st.tuples(st.just("bytes"), pick, st.binary(max_size=64)),
    st.tuples(st.just("remove"), pick),
    st.tuples(st.just("folder"), pick),
    st.tuples(st.just("extra"), st.sampled_from(["extra.json", "task_results/x.result.json", ".hidden"])),
)


def _nodes(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield from _nodes(value, (*path, key))


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def mutate(runs: Runs, target: str, run: Path, rel: str, m: tuple[Any, ...]) -> None:
    """Apply mutation ``m`` to ``run/rel`` (``run``: a copy of the run ``target``)."""
    kind = m[0]
    path = run / rel
    if kind == "extra":
        path = run / m[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        return
    if not path.is_file() or path.is_symlink() or path.stat().st_size > 1 << 20:
        return  # an earlier mutation took it (or made it huge)
    data = path.read_bytes()
    if not data:
        return
    if kind == "truncate":
        path.write_bytes(data[: int(len(data) * m[2])])
    elif kind == "flip":
        at = min(int(len(data) * m[2]), len(data) - 1)
        path.write_bytes(data[:at] + bytes([data[at] ^ m[3]]) + data[at + 1 :])
    elif kind == "number":
        found = list(_NUMBER.finditer(data))
        if found:
            hit = found[m[2] % len(found)]
            path.write_bytes(data[: hit.start()] + m[3].encode() + data[hit.end() :])
    elif kind == "deep":
        path.write_bytes(b"[" * m[2] + (b"]" * m[2] if m[3] else b""))
    elif kind in ("fifo", "folder", "remove", "symlink"):
        path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "folder":
            path.mkdir()
        elif kind == "symlink":
            targets = {
                "sibling": run / ("plan.json" if rel != "plan.json" else "run.manifest.json"),
                "outside": runs.root / "test_a.py",
                "dev": Path("/dev/zero"),
                "folder": run,
                "dangling": run / "nowhere",
            }
            path.symlink_to(targets[m[2]])
    elif kind == "huge":  # sparse: no disk used
        with open(path, "r+b") as fh:
            fh.truncate((limit_of(runs.kind(target, rel)) if m[2] == "kind" else max(LIMITS.values())) + 1)
    elif kind == "swap":
        other = runs.path(m[2]) / rel
        donor = other if other.is_file() else runs.path(m[2]) / runs.files(m[2])[m[1] % 7]
        shutil.copyfile(donor, path)
    elif kind == "value":
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):  # an earlier mutation made it not JSON, or too deep
            return
        nodes = list(_nodes(doc))
        path.write_text(json.dumps(_set(doc, nodes[m[2] % len(nodes)], m[3])))
    elif kind == "bytes":
        path.write_bytes(m[2])


# --- the commands ---------------------------------------------------------------

COMMANDS: list[tuple[str, list[str]]] = [  # (target run, argv); {run} is the mutated copy
    *[(t, ["verify", "{run}"]) for t in ("approve", "reject", "hold", "overridden", "s1")],
    ("reject", ["verify", "--json", "{run}"]),
    *[(t, ["replay", "{run}"]) for t in ("approve", "reject", "overridden")],
    ("reject", ["replay", "{run}", "--threshold", "10"]),
    ("approve", ["replay", "--all", "{runtime}"]),
    ("approve", ["diff", "{approve}", "{run}"]),
    ("reject", ["diff", "{run}", "{approve}"]),
    ("overridden", ["status", "{run}"]),
    ("hold", ["status", "--json", "{run}"]),
    ("reject", ["report", "{run}"]),
    ("approve", ["report", "--markdown", "{run}"]),
    ("reject", ["report", "--html", "{case}/r.html", "{run}"]),
    ("approve", ["slo", "{runtime}", "--month", "{month}", "--out", "{case}/slo.json"]),
    ("hold", ["override", "{run}", "--actor", "rm", "--reason", REASON]),
    ("overridden", ["override", "{run}", "--actor", "rm", "--reason", REASON]),
    ("s1", ["merge", "--run-id", "m", "--out", "{case}/m", "{run}", "{s2}"]),
    ("approve", ["verify-attestation", "--unsigned", "{att}/vsa.statement.json", "--run", "{run}"]),
    ("att", ["verify-attestation", "--unsigned", "{run}/vsa.statement.json", "--run", "{approve}"]),
    ("att", ["verify-attestation", "--unsigned", "{run}/test-result.statement.json", "--run", "{approve}"]),
]
MANY_LINES = {"verify", "verify-attestation", "slo"}  # one line per problem
CODE_LINE = re.compile(r"dome verify: [A-Z][A-Z_]+ \S.*")
VERDICTS = {"status", "replay", "diff", "slo", "merge"}
"""Commands whose non-zero exit can be a result, not a refusal (hold, differs,
worse, missed, a merged REJECT): on stdout, with nothing on stderr."""


def _snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    seen = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            info = path.lstat()
            small = path.is_file() and not path.is_symlink() and info.st_size < 1 << 20
            seen[str(path)] = (info.st_mode, info.st_size, path.read_bytes() if small else b"")
    return seen


def check_outcome(argv: list[str], code: int, out: str, err: str) -> str:
    """'ok' or 'refused', or an AssertionError saying how the command failed its users."""
    command = argv[0]
    assert "Traceback" not in out + err, (argv, out, err)
    assert code in (0, 1, 2), (argv, code, err)
    lines = err.splitlines()
    assert all(line.startswith(f"dome {command}: ") for line in lines), (argv, err)
    if command not in MANY_LINES:
        assert len(lines) <= 1, (argv, err)
    if command == "verify" and "--json" not in argv:
        assert (code == 0) == (not lines) and (code != 0 or "verified" in out), (argv, code, out, err)
        assert code != 1 or all(CODE_LINE.fullmatch(line) for line in lines), (argv, err)
    if "--json" in argv and code != 2:
        json.loads(out)
    if code == 0:
        return "ok"
    if lines:
        return "refused"
    assert command in VERDICTS or "--json" in argv, (argv, code, out)
    return "verdict"


def run_case(runs: Runs, case_dir: Path, target: str, template: list[str], mutations, rehashed) -> list[str]:
    """One case in ``case_dir``: what it counts as."""
    runtime = case_dir / "runs"
    run = runtime / target
    shutil.copytree(runs.path(target), run)
    files = runs.files(target)
    for index, m in mutations:
        mutate(runs, target, run, files[index % len(files)], m)
    if rehashed and target != "att":
        rehash(run)
    names = {"run": run, "runtime": runtime, "case": case_dir, "att": runs.att, "month": runs.month}
    names |= {name: runs.runtime / name for name in RUNS}
    argv = [part.format(**names) for part in template]
    before = _snapshot(run)
    code, out, err = cli(argv)
    outcome = check_outcome(argv, code, out, err)
    if argv[0] != "override" or code != 0:
        after = _snapshot(run)  # a reader, or a refusal, writes nothing
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        assert not changed, (argv, code, err, changed)
    return [outcome, f"{argv[0]} exit {code}"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_mutated_runs_end_in_one_line_or_a_result(runs: Runs, tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    pristine = _snapshot(runs.root)

    @settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), database=None)
    @given(
        st.sampled_from(COMMANDS),
        st.lists(st.tuples(pick, mutation), min_size=1, max_size=3),
        st.booleans(),
    )
    def case(command: tuple[str, list[str]], mutations: list[tuple[int, Any]], rehashed: bool) -> None:
        case_dir = Path(tempfile.mkdtemp(dir=tmp_path))
        try:
            with deadline():
                counts.update(run_case(runs, case_dir, *command, mutations, rehashed))
        finally:
            shutil.rmtree(case_dir, ignore_errors=True)

    started = time.perf_counter()
    case()
    took = time.perf_counter() - started
    print(f"\nfuzz: {EXAMPLES} cases in {took:.1f} s: {dict(sorted(counts.items()))}")
    assert counts["refused"] > EXAMPLES // 4 and counts["ok"] > 0, counts
    after = _snapshot(runs.root)  # the runs the cases read, never written
    assert not [k for k in pristine.keys() | after.keys() if pristine.get(k) != after.get(k)]
