"""``dome attest``: a run's decision as in-toto attestations that supply-chain tools read.

Two in-toto Statements v1 are made from a run folder, and from nothing else (no
clock, no environment), so the same run and subjects always give the same bytes:

- the **test-result** predicate (``https://in-toto.io/attestation/test-result/v0.1``)
  for the session: the tests that passed, warned (flaky, xpassed) and failed;
- the **SLSA Verification Summary** predicate (``https://slsa.dev/verification_summary/v1``)
  for the gate decision: PASSED only when the promotion is ``promote`` (APPROVE,
  or a NEEDS_HUMAN run a person overrode, the override recorded).

Both carry the extension field ``urn:pytest-dome:run``, which names the run and
the SHA-256 of its manifest: ``dome verify-attestation`` finds the run with it,
checks that it still verifies and makes the statement again to compare.
Every name is relative and every test name comes from the (redacted) evidence.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ..contracts.models import FAILING_OUTCOMES
from ..core.aggregate import TaskResult
from ..core.checkers import check
from ..runfolder.layout import MANIFEST, PLAN, POLICY
from ..runfolder.reader import RecordedRun, manifest_sha256
from ..runfolder.safejson import file_sha256

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
TEST_RESULT_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
VSA_TYPE = "https://slsa.dev/verification_summary/v1"
RUN_EXTENSION = "urn:pytest-dome:run"
VERIFIER_ID = "urn:pytest-dome:verifier:gate"
PREDICATES = {"test-result": TEST_RESULT_TYPE, "vsa": VSA_TYPE}
"""The statements ``dome attest`` writes, by the stem of their file names."""

APPROVED, OVERRIDDEN = "DOME_GATE_APPROVE", "DOME_GATE_NEEDS_HUMAN_OVERRIDDEN"
"""``verifiedLevels`` of a PASSED summary: our own names (SLSA reserves ``SLSA_``)."""
LEVELS = (APPROVED, OVERRIDDEN)

WARNED_OUTCOMES = frozenset({"xpassed"})


class AttestError(ValueError):
    """``dome attest`` cannot make the attestations: one line saying why and what to do."""


def run_uri(run_id: str) -> str:
    return f"urn:pytest-dome:run:{run_id}"


# --- subjects ------------------------------------------------------------------


def relative_name(path: str, base: Path) -> str:
    """``path`` (as a glob gave it) relative to ``base``, with '/'; refused when it
    lies outside ``base``: an attestation never holds an absolute path."""
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    try:
        rel = resolved.relative_to(base.resolve())
    except ValueError:
        raise AttestError(
            f"--subject {path}: outside the current folder; run dome attest from a folder "
            "that holds the files you release"
        ) from None
    return PurePosixPath(*rel.parts).as_posix()


def file_subjects(patterns: Sequence[str], base: Path) -> list[dict[str, Any]]:
    """A subject (name relative to ``base``, SHA-256) for every file the globs match;
    each glob must match at least one file."""
    subjects: dict[str, dict[str, Any]] = {}
    for pattern in patterns:
        matches = sorted(m for m in glob.glob(pattern, root_dir=base, recursive=True) if (base / m).is_file())
        if not matches:
            raise AttestError(f"--subject {pattern}: matches no file (build the release files first?)")
        for match in matches:
            name = relative_name(match, base)
            try:
                sha = file_sha256(base / name)
            except OSError as exc:
                raise AttestError(f"--subject {pattern}: cannot read {name}: {exc.strerror or exc}") from exc
            subjects[name] = {"name": name, "digest": {"sha256": sha}}
    return [subjects[name] for name in sorted(subjects)]


def commit_subject(recorded: RecordedRun) -> list[dict[str, Any]]:
    """The default subject: the git commit the run tested, when it tested that commit
    alone (its working tree was clean)."""
    commit = recorded.inputs.change_set.head_commit
    run_id = recorded.manifest.run_id
    if not commit:
        raise AttestError(
            f"run {run_id} records no git commit (it did not run in a git "
            "checkout); name what you release with --subject GLOB"
        )
    unclean = tree_problem(recorded)
    if unclean:
        raise AttestError(
            f"run {run_id} {unclean}; commit and gate again, or name what you release with --subject GLOB"
        )
    return [{"digest": {"gitCommit": commit}}]


def tree_problem(recorded: RecordedRun) -> str | None:
    """Why the run's commit is not all it tested: a dirty working tree, or one whose
    state is not recorded; None when the tree was clean."""
    tree = recorded.inputs.change_set.worktree
    if tree is None:
        return (
            "does not record whether its working tree was clean (git status failed, or an older pytest-dome)"
        )
    if tree.state == "dirty":
        return f"tested uncommitted changes ({tree.changed_paths} path(s) differ from its commit)"
    return None


# --- statements ----------------------------------------------------------------


def _artifact(recorded: RecordedRun, rel: str) -> dict[str, Any]:
    """A descriptor of a file of the run folder, by the digest its manifest lists."""
    sha = next(e.sha256 for e in recorded.manifest.artifacts if e.path == rel)
    return {"name": rel, "digest": {"sha256": sha}}


def run_extension(recorded: RecordedRun, manifest_sha256: str) -> dict[str, Any]:
    gate, promotion = recorded.gate, recorded.promotion
    assert gate is not None and promotion is not None
    note = promotion.override
    return {
        "run_id": recorded.manifest.run_id,
        "manifest_sha256": manifest_sha256,
        "gate_status": gate.status,
        "promotion": promotion.action,
        "decision_digest": gate.decision_digest,
        "reason_codes": list(gate.reason_codes),
        "override": None if note is None else {"actor": note.actor, "reason": note.reason, "at": note.at},
    }


def classify(results: Iterable[TaskResult]) -> tuple[list[str], list[str], list[str]]:
    """The node ids that passed, warned (flaky passes, xpassed) and failed (failed,
    error, missing), each sorted; skipped and xfailed tasks are in none."""
    passed: list[str] = []
    warned: list[str] = []
    failed: list[str] = []
    for result in sorted(results, key=lambda r: r.node_id):
        if result.outcome in FAILING_OUTCOMES:
            failed.append(result.node_id)
        elif result.outcome in WARNED_OUTCOMES or (result.outcome == "passed" and result.flaky):
            warned.append(result.node_id)
        elif result.outcome == "passed":
            passed.append(result.node_id)
    return passed, warned, failed


def test_result_predicate(recorded: RecordedRun, extension: dict[str, Any]) -> dict[str, Any]:
    passed, warned, failed = classify(recorded.results)
    assert recorded.gate is not None
    incident = any(recorded.gate.checks.session.model_dump().values())  # crashes, collection errors, ...
    outcome = "FAILED" if failed or incident else "WARNED" if warned else "PASSED"
    return {
        "result": outcome,
        "configuration": [_artifact(recorded, POLICY), _artifact(recorded, PLAN)],
        "passedTests": passed,
        "warnedTests": warned,
        "failedTests": failed,
        RUN_EXTENSION: extension,
    }


def vsa_predicate(recorded: RecordedRun, extension: dict[str, Any], resource_uri: str) -> dict[str, Any]:
    gate, promotion = recorded.gate, recorded.promotion
    assert gate is not None and promotion is not None
    versions = recorded.manifest.versions
    passed = promotion.action == "promote"
    level = (OVERRIDDEN if promotion.override else APPROVED) if passed else "FAILED"
    return {
        "verifier": {
            "id": VERIFIER_ID,
            "version": {"pytest-dome": versions.pytest_dome, "pytest": versions.pytest},
        },
        "timeVerified": promotion.override.at if promotion.override else gate.decided_at,
        "resourceUri": resource_uri,
        "policy": {
            "uri": f"urn:pytest-dome:policy:{gate.risk.policy_id}",
            "digest": _artifact(recorded, POLICY)["digest"],
        },
        "inputAttestations": [
            {"uri": f"{run_uri(recorded.manifest.run_id)}:{MANIFEST}", **_manifest(extension)}
        ],
        "verificationResult": "PASSED" if passed else "FAILED",
        "verifiedLevels": [level],
        RUN_EXTENSION: extension,
    }


def _manifest(extension: dict[str, Any]) -> dict[str, Any]:
    return {"name": MANIFEST, "digest": {"sha256": extension["manifest_sha256"]}}


def statements(
    recorded: RecordedRun, subjects: list[dict[str, Any]], resource_uri: str | None = None
) -> dict[str, dict[str, Any]]:
    """The two statements of a complete run, by the stem of their file names (a
    shard's partial run: :class:`RunReadError`)."""
    recorded.decision()  # a shard's partial run has none: RunReadError
    extension = run_extension(recorded, manifest_sha256(recorded.run_dir))
    predicates = {
        "test-result": test_result_predicate(recorded, extension),
        "vsa": vsa_predicate(recorded, extension, resource_uri or run_uri(recorded.manifest.run_id)),
    }
    made = {
        stem: {
            "_type": STATEMENT_TYPE,
            "subject": subjects,
            "predicateType": PREDICATES[stem],
            "predicate": predicate,
        }
        for stem, predicate in predicates.items()
    }
    for stem, statement in made.items():
        for problem in check("intoto.statement", statement):  # our own contract: a bug if not
            raise AttestError(f"the {stem} statement breaks its schema ({problem}); please report it")
    return made


# --- checking a statement against its run and subjects ---------------------------


def statement_problems(statement: Any, base: Path, run_dir: Path | None, runtime_dir: Path) -> list[str]:
    """Why ``statement`` no longer holds: a subject file that is gone or changed, a run
    folder that does not verify, or a statement that its run does not give (any more).
    ``run_dir``: the run, when not the one the statement names in ``runtime_dir``."""
    from ..runfolder.audit import NotIntact, read_intact
    from ..runfolder.reader import RunReadError, find_run

    problems = [f"statement: {p}" for p in check("intoto.statement", statement)]
    if problems:
        return problems
    for subject in statement["subject"]:
        problems += _subject_problems(subject, base)
    extension = statement["predicate"][RUN_EXTENSION]
    run_id = extension["run_id"]
    try:
        run_dir = run_dir or find_run(run_id, runtime_dir)
    except RunReadError as exc:
        return [*problems, f"run: {exc}"]
    try:
        recorded = read_intact(run_dir)
        manifest = manifest_sha256(run_dir)
    except NotIntact as exc:
        return [*problems, *(f"run: {exc.run}: {p}" for p in exc.problems)]
    except RunReadError as exc:
        return [*problems, f"run: {exc}"]
    if manifest != extension["manifest_sha256"]:
        return [
            *problems,
            f"run {run_id}: its manifest changed since the attestation (an override?); attest again",
        ]
    try:
        stem = next(s for s, t in PREDICATES.items() if t == statement["predicateType"])
        resource_uri = statement["predicate"].get("resourceUri")
        expected = statements(recorded, statement["subject"], resource_uri)[stem]["predicate"]
    except RunReadError as exc:
        return [*problems, f"run: {exc}"]
    except AttestError as exc:
        return [*problems, f"run {run_id}: {exc}"]
    commit = recorded.inputs.change_set.head_commit
    for subject in statement["subject"]:
        if "gitCommit" not in subject["digest"]:
            continue
        if subject["digest"]["gitCommit"] != commit:
            problems.append(
                f"subject gitCommit {subject['digest']['gitCommit']}: run {run_id} tested {commit}"
            )
        elif tree_problem(recorded):
            problems.append(f"subject gitCommit {commit}: run {run_id} {tree_problem(recorded)}")
    given = statement["predicate"]
    differing = sorted(k for k in expected.keys() | given.keys() if expected.get(k) != given.get(k))
    if differing:
        problems.append(f"predicate: {', '.join(differing)} differ from what run {run_id} gives")
    return problems


def _subject_problems(subject: dict[str, Any], base: Path) -> list[str]:
    digest, name = subject["digest"], subject.get("name")
    if "sha256" not in digest:
        return []
    path = base / name if name else None
    if path is None or not path.is_file():
        return [f"subject {name or '(unnamed)'}: no such file under {base}"]
    try:
        sha = file_sha256(path)
    except OSError as exc:
        return [f"subject {name}: cannot read it: {exc.strerror or exc}"]
    if sha != digest["sha256"]:
        return [f"subject {name}: sha256 differs: the file changed since it was attested"]
    return []
