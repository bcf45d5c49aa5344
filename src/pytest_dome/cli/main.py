"""The ``dome`` command: a thin shell over the same core the plugin uses."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config.inikeys import DEFAULT_RUNTIME_DIR, OUTPUT_ROOT
from ..runfolder.record import utc_now
from ..runfolder.writer import write_output
from .validate_ssot import ssot_problems


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
        write_output(Path(args.report), (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    for problem in problems:
        print(f"dome validate-ssot: {problem}", file=sys.stderr)
    if not args.quiet and not problems:
        print(
            f"ssot ok: {len(checked['schemas'])} schemas, {checked['reason_codes']} reason codes, "
            f"{checked['risk_factors']} risk factors"
        )
    return 1 if problems else 0


DEFAULT_RUNTIME = Path(DEFAULT_RUNTIME_DIR)


def _emit_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True))


def cmd_verify(args: argparse.Namespace) -> int:
    from ..runfolder.audit import verify_run
    from ..runfolder.reader import RunReadError, find_run, manifest_or_none

    try:
        run_dir = find_run(args.run, Path(args.runtime_dir), started_ok=True)
    except RunReadError as exc:
        print(f"dome verify: {exc}", file=sys.stderr)
        return 2
    problems = verify_run(run_dir)
    manifest = manifest_or_none(run_dir)
    if args.json:
        _emit_json(
            {
                "run": str(run_dir),
                "run_id": manifest.get("run_id") if manifest else None,
                "gate_status": manifest.get("gate_status") if manifest else None,
                "ok": not problems,
                "problems": [p.as_json() for p in problems],
            }
        )
    else:
        for problem in problems:
            print(f"dome verify: {problem}", file=sys.stderr)
        if not problems and manifest is not None:
            print(
                f"run {manifest['run_id']} verified: {manifest['gate_status'] or 'partial'}, "
                f"{len(manifest['artifacts']) + 1} artifacts complete and intact"
                + (", decision replays identically" if manifest["state"] == "complete" else "")
            )
    return 1 if problems else 0


def _what_if_policy(args: argparse.Namespace, recorded: Any) -> Any:
    from ..config.inputs import load_policy
    from ..config.options import parse_threshold

    if args.policy is None and args.threshold is None:
        return None
    policy = load_policy(Path(args.policy), args.policy) if args.policy else recorded.inputs.policy
    if args.threshold is not None:
        policy = policy.model_copy(update={"threshold": parse_threshold(args.threshold, "--threshold")})
    return policy


def cmd_replay(args: argparse.Namespace) -> int:
    from ..config.options import ConfigError
    from ..runfolder.reader import RunReadError, find_run, load_run
    from ..runfolder.replay import replay

    if args.all is not None:
        return _replay_all(Path(args.all), args.json)
    if args.run is None:
        print("dome replay: give a run folder or run id, or --all RUNTIME_DIR", file=sys.stderr)
        return 2
    try:
        recorded = load_run(find_run(args.run, Path(args.runtime_dir)))
        result = replay(recorded, _what_if_policy(args, recorded))
    except (RunReadError, ConfigError) as exc:
        print(f"dome replay: {exc}", file=sys.stderr)
        return 2
    if args.json:
        _emit_json(result.as_json())
    elif result.what_if:
        print(
            f"what-if for run {result.run_id}: {result.status} (recorded {result.recorded_status}); "
            f"score {result.score:g} against threshold {result.threshold:g}; "
            f"{', '.join(result.reason_codes)} (not written)"
        )
    elif result.identical:
        print(
            f"replay of run {result.run_id}: {result.status}, decision_digest "
            f"{result.digest[:16]}..., identical to the recorded decision"
        )
    else:
        print(f"replay of run {result.run_id}: differs from the recorded decision")
        for name, recorded_value, replayed_value in result.differences:
            print(f"  {name}: recorded {recorded_value!r}, replayed {replayed_value!r}")
    return 0 if result.what_if or result.identical else 1


def _replay_all(runtime_dir: Path, as_json: bool) -> int:
    """SLO-2: the share of replayed runs that give the same gate status."""
    from ..report.slo import TARGETS, determinism, shown_target

    if not runtime_dir.is_dir():
        print(f"dome replay: {runtime_dir} is not a folder; give a runtime folder", file=sys.stderr)
        return 2
    result = determinism(runtime_dir)
    if result.replayed == 0 and not result.unreadable:  # 0/0 is not 100 %
        skipped = f" ({len(result.skipped)} skipped: partial or never committed)" if result.skipped else ""
        print(
            f"dome replay: no complete run to replay in {runtime_dir}{skipped}; an empty history "
            "is not evidence of determinism: give the folder that holds the runs",
            file=sys.stderr,
        )
        return 1
    if as_json:
        _emit_json(result.as_json())
    else:
        print(
            f"determinism (SLO-2): {result.same_status}/{result.replayed} replayed runs gave the same "
            f"gate status ({result.rate:.2%}; target {shown_target('SLO-2', TARGETS['SLO-2'])}); "
            f"{result.same_digest} "
            "identical decision digests"
            + (f"; differing: {', '.join(result.differing)}" if result.differing else "")
            + (f"; unreadable: {len(result.unreadable)}" if result.unreadable else "")
        )
    return 0 if result.met and not result.unreadable else 1


def cmd_merge(args: argparse.Namespace) -> int:
    from ..config.options import ConfigError, check_run_id
    from ..runfolder.lifecycle import abandon_run_dir, drop_replaced, prepare_run_dir
    from ..runfolder.merge import MergeError, merge
    from ..runfolder.writer import EvidenceError

    out = Path(args.out) if args.out else DEFAULT_RUNTIME / args.run_id
    try:
        check_run_id(args.run_id)
        replaced = prepare_run_dir(out, str(out), args.replace, "--replace")
    except (ConfigError, EvidenceError) as exc:
        print(f"dome merge: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = merge(args.run_id, [Path(f) for f in args.shards], out)
    except (MergeError, OSError) as exc:
        abandon_run_dir(out, replaced)
        print(f"dome merge: {exc}", file=sys.stderr)
        return 2
    drop_replaced(replaced)
    gate = outcome.gate
    assert gate is not None
    print(
        f"run {args.run_id}: {gate.status} (score {gate.risk.score:g} against "
        f"{gate.risk.threshold:g}; {', '.join(gate.reason_codes)}); evidence: {out}"
    )
    return 1 if gate.status in outcome.effective_config.fail_on else 0


def cmd_override(args: argparse.Namespace) -> int:
    from ..runfolder.override import OverrideError, apply_override
    from ..runfolder.reader import RunReadError, find_run

    try:
        run_dir = find_run(args.run, Path(args.runtime_dir))
        promotion = apply_override(run_dir, args.actor, args.reason)
    except (RunReadError, OverrideError) as exc:
        print(f"dome override: {exc}", file=sys.stderr)
        return 2
    note = promotion.override
    assert note is not None
    print(
        f"run {promotion.run_id}: NEEDS_HUMAN overridden by {note.actor} at {note.at}: "
        f"promotion is now {promotion.action} (recorded in promotion/overrides.jsonl)"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """The promotion action of a run; exit 0 only for promote (gate a deploy step on it)."""
    from ..runfolder.audit import read_intact
    from ..runfolder.reader import RunReadError, find_run

    try:
        run_dir = find_run(args.run, Path(args.runtime_dir))
    except RunReadError as exc:
        print(f"dome status: {exc}", file=sys.stderr)
        return 2
    try:
        _, promotion = read_intact(run_dir).decision()
    except RunReadError as exc:  # no promotion to go on: not intact, or a shard
        if args.json:
            _emit_json({"run": str(run_dir), "action": None, "verified": False, "problem": exc.problem})
        else:
            print(f"dome status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _emit_json(
            {
                "run": str(run_dir),
                "run_id": promotion.run_id,
                "action": promotion.action,
                "gate_status": promotion.gate_status,
                "reason_codes": list(promotion.reason_codes),
                "override": promotion.override.model_dump() if promotion.override else None,
                "verified": True,
            }
        )
    else:
        by = f", overridden by {promotion.override.actor}" if promotion.override else ""
        print(f"{promotion.action} (run {promotion.run_id}: {promotion.gate_status}{by})")
    return 0 if promotion.action == "promote" else 1


def cmd_slo(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from ..report.slo import SloError, check_month, compute, describe
    from ..runfolder.writer import atomic_write, write_output

    try:
        month = check_month(args.month or datetime.now(timezone.utc).strftime("%Y-%m"))
        if args.history is not None:  # over the run history store: report/slo_store.py
            from .ask import store_slo

            report = store_slo(args.history, month)
        else:
            report = compute(Path(args.runtime_dir), month)
    except SloError as exc:
        for line in str(exc).splitlines():
            print(f"dome slo: {line}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(OUTPUT_ROOT) / "m01" / f"slo-{month}.json"
    write_output(out, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    if args.html:
        from ..report.render import slo_html

        atomic_write(
            Path(args.html), slo_html(report, report.get("history") or Path(args.runtime_dir)).encode()
        )
    if args.json:
        _emit_json(report)
    else:
        print("\n".join(describe(report)))
        print(f"written to {out}")
    return 0 if report["met"] else 1


def cmd_report(args: argparse.Namespace) -> int:
    from ..report.render import Review, review_lines, review_markdown, run_html
    from ..runfolder.reader import RunReadError, find_run, load_run
    from ..runfolder.writer import atomic_write

    try:
        recorded = load_run(find_run(args.run, Path(args.runtime_dir)))
        gate, promotion = recorded.decision()
    except RunReadError as exc:
        print(f"dome report: {exc}", file=sys.stderr)
        return 2
    review = Review(
        gate,
        promotion,
        recorded.results,
        recorded.inputs.verify.commands,
        str(recorded.run_dir),
        recorded.inputs.comparison(),
    )
    if args.html:
        atomic_write(Path(args.html), run_html(review).encode())
        print(f"written to {args.html}")
    elif args.markdown:
        print(review_markdown(review))
    else:
        print("\n".join(review_lines(review)))
    return 0


def _command(sub: Any, name: str, func: Any, help: str, *, run: str | None = "required") -> Any:
    """A subcommand; ``run`` adds the RUN argument (a folder or a run id) and --runtime-dir."""
    p = sub.add_parser(name, help=help)
    p.set_defaults(func=func)
    if run is not None:
        nargs = "?" if run == "optional" else None
        p.add_argument("run", metavar="RUN", nargs=nargs, help="a run folder, or a run id in --runtime-dir")
        p.add_argument("--runtime-dir", default=str(DEFAULT_RUNTIME), help="where run ids are looked up")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dome", description="pytest-dome release gate tools")
    sub = parser.add_subparsers(dest="command", required=True)
    json_help = "machine-readable output"

    p = _command(sub, "validate-ssot", cmd_validate_ssot, "check the SSOT contracts", run=None)
    p.add_argument("--report", metavar="FILE", help="also write the result as JSON to FILE")
    p.add_argument("--quiet", action="store_true", help="print problems only")

    p = _command(sub, "verify", cmd_verify, "check a run's evidence: complete, intact, replays")
    p.add_argument("--json", action="store_true", help=json_help)

    p = _command(sub, "replay", cmd_replay, "make a run's decision again", run="optional")
    p.add_argument("--threshold", help="what-if: re-evaluate under this risk threshold")
    p.add_argument("--policy", metavar="FILE", help="what-if: re-evaluate under this policy file")
    p.add_argument("--all", metavar="RUNTIME_DIR", help="replay every run there: the SLO-2 figure")
    p.add_argument("--json", action="store_true", help=json_help)

    p = _command(sub, "override", cmd_override, "promote a NEEDS_HUMAN run, recording who and why")
    p.add_argument("--actor", required=True, help="who decides (a name or handle)")
    p.add_argument("--reason", required=True, help="why the risk is accepted (a sentence)")

    p = _command(sub, "status", cmd_status, "print a run's promotion; exit 0 only for promote")
    p.add_argument("--json", action="store_true", help=json_help)

    p = _command(sub, "slo", cmd_slo, "the four SLOs over a runtime folder, for a month", run=None)
    p.add_argument("runtime_dir", metavar="RUNTIME_DIR", nargs="?", default=str(DEFAULT_RUNTIME))
    p.add_argument("--month", help="YYYY-MM (default: this month, UTC)")
    p.add_argument(
        "--out", metavar="FILE", help=f"the JSON result (default {OUTPUT_ROOT}/m01/slo-MONTH.json)"
    )
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--history", metavar="URL", help="over the run history store, not a runtime folder")

    p = _command(sub, "report", cmd_report, "a run's decision for people: text, Markdown or HTML")
    p.add_argument("--html", metavar="FILE", help="write one self-contained HTML file")
    p.add_argument("--markdown", action="store_true", help="print Markdown")

    p = _command(sub, "merge", cmd_merge, "merge the partial runs of shards into one run", run=None)
    p.add_argument("--run-id", required=True, help="the merged run's id")
    p.add_argument("--out", metavar="DIR", help=f"the merged run folder (default {DEFAULT_RUNTIME_DIR}/ID)")
    p.add_argument("--replace", action="store_true", help="replace an existing merged run")
    p.add_argument("shards", metavar="SHARD_DIR", nargs="+", help="the shards' run folders")

    from .attest import add_commands  # dome attest, dome verify-attestation

    add_commands(sub, _command, str(DEFAULT_RUNTIME))

    from .diff import add_diff_command

    add_diff_command(sub, str(DEFAULT_RUNTIME))

    from .ask import add_ask_commands  # dome flaky, dome quarantine suggest
    from .history import add_history_commands
    from .quarantine import add_quarantine_commands

    add_history_commands(sub)
    add_ask_commands(sub, add_quarantine_commands(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
