"""``dome attest`` and ``dome verify-attestation``: the shell over attest.py and dsse.py."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ..config.inikeys import OUTPUT_ROOT

DEFAULT_OUT = Path(OUTPUT_ROOT) / "attestations"
URI = re.compile(r"^[a-z][a-z0-9+.-]*:\S+$")


def _fail(command: str, message: str, code: int) -> int:
    print(f"dome {command}: {message}", file=sys.stderr)
    return code


def cmd_attest(args: argparse.Namespace) -> int:
    from ..attest.dsse import KeyFileError, load_signer, sign
    from ..attest.statements import AttestError, commit_subject, file_subjects, statements
    from ..core.canonical import canonical_json
    from ..runfolder.audit import NotIntact, read_intact
    from ..runfolder.reader import RunReadError, find_run
    from ..runfolder.writer import render, write_together

    if args.resource_uri is not None and not URI.match(args.resource_uri):
        return _fail("attest", f"--resource-uri {args.resource_uri!r}: not a URI (e.g. pkg:pypi/NAME@1.0)", 2)
    try:
        signer = load_signer(Path(args.key)) if args.key else None  # first: the extra may be missing
        run_dir = find_run(args.run, Path(args.runtime_dir))
    except (RunReadError, KeyFileError) as exc:
        return _fail("attest", str(exc), 2)
    try:
        recorded = read_intact(run_dir)
        subjects = file_subjects(args.subject, Path.cwd()) if args.subject else commit_subject(recorded)
        documents = statements(recorded, subjects, args.resource_uri)
    except NotIntact as exc:
        return _fail("attest", str(exc), 1)
    except (RunReadError, AttestError) as exc:
        return _fail("attest", str(exc), 2)
    out = Path(args.out) if args.out else DEFAULT_OUT / recorded.manifest.run_id
    if out.resolve() == run_dir.resolve() or run_dir.resolve() in out.resolve().parents:
        return _fail("attest", f"--out {out}: inside the run folder, whose manifest lists every file", 2)
    files = {  # made (and signed) before anything is written
        out / f"{stem}.{'statement' if signer is None else 'intoto'}.json": render(
            statement if signer is None else sign(canonical_json(statement), signer)
        )
        for stem, statement in documents.items()
    }
    try:
        write_together(files)  # not one of the pair without the other
    except OSError as exc:
        return _fail("attest", f"--out {out}: cannot write there: {exc.strerror or exc}", 2)
    for path, statement in zip(files, documents.values(), strict=True):
        print(f"{path}: {statement['predicateType']}" + (" (unsigned)" if signer is None else ""))
    names = ", ".join(s.get("name") or next(iter(s["digest"].values())) for s in subjects)
    signed = f"signed with key id {signer.public_key.keyid[:16]}..." if signer else "unsigned"
    print(f"run {recorded.manifest.run_id}: attested for {names}; {signed}")
    return 0


def cmd_verify_attestation(args: argparse.Namespace) -> int:
    from ..attest.dsse import (
        KeyFileError,
        SignatureProblem,
        is_envelope,
        load_public_key,
        signed_statement,
        verified_payload,
    )
    from ..attest.statements import LEVELS, statement_problems
    from ..runfolder.reader import RunReadError, find_run
    from ..runfolder.safejson import read_json

    if args.require_level is not None and args.require_level not in LEVELS:
        levels = " or ".join(LEVELS)
        return _fail(
            "verify-attestation", f"--require-level {args.require_level}: not a level; give {levels}", 2
        )
    try:
        document = read_json(args.file, "attestation", unique_keys=True)
        run_dir = find_run(args.run, Path(args.runtime_dir)) if args.run else None
        key = load_public_key(Path(args.key)) if args.key else None
    except FileNotFoundError:
        return _fail("verify-attestation", f"{args.file}: no such file", 2)
    except (OSError, ValueError) as exc:  # unreadable, not JSON, a bad key file or run
        message = str(exc) if isinstance(exc, (KeyFileError, RunReadError)) else f"{args.file}: {exc}"
        return _fail("verify-attestation", message.splitlines()[0], 2)
    how = "unsigned"
    if is_envelope(document):
        if key is None:
            return _fail("verify-attestation", f"{args.file} is a signed envelope: give --key PUBLIC_KEY", 2)
        try:
            statement: Any = signed_statement(verified_payload(document, key))
        except SignatureProblem as exc:
            return _fail("verify-attestation", f"{args.file}: {exc}", 1)
        how = f"signature verified with key id {key.keyid[:16]}..."
    elif not args.unsigned:
        return _fail(
            "verify-attestation",
            f"{args.file} is not a signed envelope; check its signature with cosign and pass --unsigned",
            2,
        )
    else:
        statement = document
    problems = statement_problems(statement, Path(args.subject_dir), run_dir, Path(args.runtime_dir))
    for problem in problems:
        print(f"dome verify-attestation: {args.file}: {problem}", file=sys.stderr)
    if problems:
        return 1
    refused = _refusal(statement, args.require_level, args.accept_failed)
    if refused:
        return _fail("verify-attestation", f"{args.file}: {refused[0]}", refused[1])
    predicate = statement["predicate"]
    verdict = predicate.get("result") or f"{predicate['verificationResult']} {predicate['verifiedLevels'][0]}"
    accepted = "" if verdict.startswith("PASSED") else ", accepted with --accept-failed"
    run_id = predicate["urn:pytest-dome:run"]["run_id"]
    print(
        f"{args.file} verified: {how}; {len(statement['subject'])} subject(s) match; run "
        f"{run_id} verifies and gives this statement ({verdict}{accepted})"
    )
    return 0


def _refusal(statement: dict[str, Any], level: str | None, accept_failed: bool) -> tuple[str, int] | None:
    """Why a statement that holds is still not one a release may go on (one line, the
    exit status): a result other than PASSED, or a VSA without the required level."""
    from ..attest.statements import RUN_EXTENSION, VSA_TYPE

    predicate = statement["predicate"]
    run = predicate[RUN_EXTENSION]
    gate = f"run {run['run_id']}: gate {run['gate_status']}, promotion {run['promotion']}"
    vsa = statement["predicateType"] == VSA_TYPE
    field = "verificationResult" if vsa else "result"
    if level is not None and not vsa:
        return f"--require-level {level}: a test-result statement has no levels; check the VSA (vsa.*)", 2
    if predicate[field] != "PASSED" and not accept_failed:
        return (
            f"{field} is {predicate[field]}, not PASSED ({gate}); a release takes PASSED only "
            "(--accept-failed checks a failed run for an audit)",
            1,
        )
    if level is not None and level not in predicate["verifiedLevels"]:
        return f"verifiedLevels {', '.join(predicate['verifiedLevels'])}, not {level} ({gate})", 1
    return None


def add_commands(sub: Any, command: Any, default_runtime: str) -> None:
    """Register the two subcommands (called by ``cli.build_parser``); ``command`` is
    cli's subcommand factory, ``default_runtime`` its --runtime-dir default."""
    p = command(
        sub, "attest", cmd_attest, "a run's decision as in-toto attestations (DSSE-signed with --key)"
    )
    p.add_argument(
        "--subject",
        metavar="GLOB",
        action="append",
        help="released files (repeatable; named relative to the current folder); default: the git commit",
    )
    p.add_argument("--key", metavar="PRIVATE_KEY", help="sign with this key file (PEM or OpenSSH)")
    p.add_argument("--out", metavar="DIR", help=f"where to write (default {DEFAULT_OUT.as_posix()}/RUN_ID)")
    p.add_argument(
        "--resource-uri", metavar="URI", help="the VSA's resourceUri (default urn:pytest-dome:run:ID)"
    )

    p = command(
        sub,
        "verify-attestation",
        cmd_verify_attestation,
        "check an attestation, its subjects and run",
        run=None,
    )
    p.add_argument("file", metavar="FILE", help="a *.intoto.json envelope (or, with --unsigned, a statement)")
    p.add_argument("--key", metavar="PUBLIC_KEY", help="the public key of the signer (PEM or OpenSSH)")
    p.add_argument(
        "--unsigned", action="store_true", help="accept a bare statement (its signature checked elsewhere)"
    )
    p.add_argument(
        "--subject-dir", default=".", metavar="DIR", help="where the subject files are (default .)"
    )
    p.add_argument(
        "--accept-failed",
        action="store_true",
        help="exit 0 for a result other than PASSED too (an audit of a failed run); never for a release",
    )
    p.add_argument(
        "--require-level",
        metavar="LEVEL",
        help="refuse a VSA whose verifiedLevels lack LEVEL (DOME_GATE_APPROVE: no overridden run)",
    )
    p.add_argument("--run", metavar="RUN", help="the run folder or id (default: the run the statement names)")
    p.add_argument("--runtime-dir", default=default_runtime, help="where run ids are looked up")
