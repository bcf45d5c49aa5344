"""The ``dome`` command: a thin shell over the same core the plugin uses."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import reasons, risk, ssot
from .canonical import sha256_hex
from .checkers import check
from .evidence import MANIFEST, atomic_write
from .run import utc_now


def _metaschema_problems() -> list[str]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    problems = []
    for name, schema in ssot.schemas().items():
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.append(f"{name}: not a valid Draft 2020-12 schema: {exc.message}")
        for key in ("$id", "schema_version"):
            if key not in schema:
                problems.append(f"{name}: has no {key}")
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problems.append(f"{name}: $schema is not Draft 2020-12")
    return problems


def ssot_problems() -> tuple[list[str], dict[str, Any]]:
    """Every problem of the SSOT contracts, and what was checked."""
    problems = _metaschema_problems()
    folder = ssot.ssot_dir()
    catalog_doc = ssot.load_json(folder / "policy" / "reason.codes.json")
    policy_doc = ssot.load_json(folder / "policy" / "risk.policy.json")
    problems += [f"policy/reason.codes.json: {p}" for p in check("reason.codes", catalog_doc)]
    problems += [f"policy/risk.policy.json: {p}" for p in check("risk.policy", policy_doc)]
    catalog = catalog_doc.get("codes", {})
    enum = ssot.schemas()["common.schema.json"]["$defs"]["reason_code"]["enum"]
    if sorted(enum) != sorted(catalog):
        problems.append("common.schema.json reason_code enum differs from the catalog's codes")
    for code, implied in reasons.IMPLIES.items():
        if code not in catalog:
            problems.append(f"code {code} can be emitted but is not in the catalog")
        elif catalog[code]["implies"] != implied:
            problems.append(
                f"code {code}: the catalog says it implies {catalog[code]['implies']}, "
                f"the code says {implied}"
            )
    for code in catalog:
        if code not in reasons.IMPLIES:
            problems.append(f"catalog code {code} is never emitted by the code")
    factors = set(policy_doc.get("factors", {}))
    if factors != set(risk.FACTORS):
        problems.append(
            f"policy/risk.policy.json factors {sorted(factors)} differ from the scored factors "
            f"{sorted(risk.FACTORS)}"
        )
    checked = {
        "schemas": sorted(ssot.schemas()),
        "policy_files": ["policy/reason.codes.json", "policy/risk.policy.json"],
        "reason_codes": len(catalog),
        "risk_factors": len(factors),
    }
    return problems, checked


def cmd_validate_ssot(args: argparse.Namespace) -> int:
    problems, checked = ssot_problems()
    if args.report:
        report = {
            "kind": "ssot.validation",
            "checked_at": utc_now(),
            "ok": not problems,
            "problems": problems,
            **checked,
        }
        path = Path(args.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    for problem in problems:
        print(f"dome validate-ssot: {problem}", file=sys.stderr)
    if not args.quiet and not problems:
        print(
            f"ssot ok: {len(checked['schemas'])} schemas, {checked['reason_codes']} reason codes, "
            f"{checked['risk_factors']} risk factors"
        )
    return 1 if problems else 0


def run_problems(run_dir: Path) -> list[str]:
    """Schema and hash problems of the evidence in ``run_dir``."""
    manifest_path = run_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except FileNotFoundError:
        return [f"{MANIFEST}: missing (the run never committed)"]
    except (OSError, ValueError) as exc:
        return [f"{MANIFEST}: unreadable: {exc}"]
    problems = [f"{MANIFEST}: {p}" for p in check("run.manifest", manifest)]
    if problems:
        return problems
    for entry in manifest["artifacts"]:
        path = run_dir / entry["path"]
        try:
            data = path.read_bytes()
        except OSError:
            problems.append(f"{entry['path']}: missing")
            continue
        if sha256_hex(data) != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 differs from the manifest")
            continue
        try:
            doc = json.loads(data)
        except ValueError as exc:
            problems.append(f"{entry['path']}: not JSON: {exc}")
            continue
        problems += [f"{entry['path']}: {p}" for p in check(entry["kind"], doc)]
    return problems


def cmd_validate_run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        print(f"dome validate-run: {run_dir} is not a folder; give a run folder", file=sys.stderr)
        return 2
    problems = run_problems(run_dir)
    for problem in problems:
        print(f"dome validate-run: {problem}", file=sys.stderr)
    if not problems:
        manifest = json.loads((run_dir / MANIFEST).read_bytes())
        print(
            f"run {manifest['run_id']} ok: {manifest['gate_status']}, "
            f"{len(manifest['artifacts']) + 1} artifacts valid and matching the manifest"
        )
    return 1 if problems else 0


def cmd_merge(args: argparse.Namespace) -> int:
    from .config import ConfigError, check_run_id
    from .evidence import EvidenceError, abandon_run_dir, prepare_run_dir
    from .merge import MergeError, merge

    out = Path(args.out) if args.out else Path("ops/runtime/runs") / args.run_id
    try:
        check_run_id(args.run_id)
        replaced = prepare_run_dir(out, str(out), args.replace)
    except (ConfigError, EvidenceError) as exc:
        print(f"dome merge: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = merge(args.run_id, [Path(f) for f in args.shards], out)
    except (MergeError, OSError) as exc:
        abandon_run_dir(out, replaced)
        print(f"dome merge: {exc}", file=sys.stderr)
        return 2
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)
    gate = outcome.gate
    assert gate is not None
    print(
        f"run {args.run_id}: {gate.status} (score {gate.risk.score:g} against "
        f"{gate.risk.threshold:g}; {', '.join(gate.reason_codes)}); evidence: {out}"
    )
    return 1 if gate.status in outcome.manifest.config.fail_on else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dome", description="pytest-dome release gate tools")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate-ssot", help="check the SSOT contracts (schemas, catalog, policy)")
    p.add_argument("--report", metavar="FILE", help="also write the result as JSON to FILE")
    p.add_argument("--quiet", action="store_true", help="print problems only")
    p.set_defaults(func=cmd_validate_ssot)
    p = sub.add_parser(
        "validate-run", help="check a run folder's artifacts against their schemas and hashes"
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=cmd_validate_run)
    p = sub.add_parser("merge", help="merge the partial runs of shards into one gated run")
    p.add_argument("--run-id", required=True, help="the merged run's id")
    p.add_argument(
        "--out", metavar="DIR", help="the merged run folder (default ops/runtime/runs/ID)"
    )
    p.add_argument("--replace", action="store_true", help="replace an existing merged run")
    p.add_argument("shards", metavar="SHARD_DIR", nargs="+", help="the shards' run folders")
    p.set_defaults(func=cmd_merge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
