"""``dome diff RUN_A RUN_B``: what got worse from run A to run B, under B's policy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def cmd_diff(args: argparse.Namespace) -> int:
    """Exit 1 when something got worse, 2 when a run cannot be read. Run A is read as
    ``--dome-baseline`` reads a baseline (``baseline.read_summary``), run B as the
    commands that act on a run's evidence read it (``audit.read_intact``)."""
    from ..core.comparison import RecordedBaseline
    from ..report.baseline import as_json, lines
    from ..runfolder.audit import read_intact
    from ..runfolder.baseline import read_summary
    from ..runfolder.reader import RunReadError, find_run

    runtime_dir = Path(args.runtime_dir)
    try:
        before = read_summary(find_run(args.run_a, runtime_dir))
        after = read_intact(find_run(args.run_b, runtime_dir))
        after.decision()  # a shard's partial run is refused
    except RunReadError as exc:
        print(f"dome diff: {exc}", file=sys.stderr)
        return 2
    comparison = after.inputs.comparison(RecordedBaseline.of(before))
    assert comparison is not None
    if args.json:
        print(json.dumps(as_json(comparison, after.manifest.run_id), indent=2, sort_keys=True))
    else:
        first, *rest = lines(comparison)
        print(f"run {after.manifest.run_id} against {first.removeprefix('baseline: compared with ')}")
        print("\n".join(rest))
    return 1 if comparison.worse else 0


def add_diff_command(sub: Any, default_runtime: str) -> None:
    """Register ``dome diff`` (called by ``cli.main.build_parser``)."""
    p = sub.add_parser("diff", help="what got worse from run A to run B (new failures, removed, slower)")
    p.set_defaults(func=cmd_diff)
    p.add_argument("run_a", metavar="RUN_A", help="the baseline: a run folder, or a run id in --runtime-dir")
    p.add_argument("run_b", metavar="RUN_B", help="the run compared with it")
    p.add_argument("--runtime-dir", default=default_runtime, help="where run ids are looked up")
    p.add_argument("--json", action="store_true", help="machine-readable output")
