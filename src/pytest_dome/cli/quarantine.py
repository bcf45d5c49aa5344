"""``dome quarantine``: the quarantine file's commands (docs/quarantine.md).

``dome quarantine check [FILE]`` reads the file as a gated run would and lists its
entries as of today. The group is where ``dome quarantine suggest`` (proposals
from the run history, never an edit of the file) is added.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0: the file is good and nothing expired; 1: an entry expired (it shields
    nothing); 2: a run would refuse the file (one line on standard error)."""
    from ..config.inputs import load_policy
    from ..config.options import ConfigError
    from ..config.quarantine import check_horizon, read_quarantine, utc_today
    from ..core.quarantine import is_expired

    today = utc_today()
    try:
        policy = load_policy(Path(args.policy) if args.policy else None, args.policy or "builtin")
        quarantine = read_quarantine(Path(args.file), args.file)
        check_horizon(quarantine, policy, today, args.file)
    except ConfigError as exc:
        print(f"dome quarantine check: {exc}", file=sys.stderr)
        return 2
    as_of = today.isoformat()
    expired = 0
    for entry in quarantine.entries:
        late = is_expired(entry.expires, as_of)
        expired += late
        state = "EXPIRED, shields nothing" if late else "shields"
        print(f"{entry.pattern}: {state} through {entry.expires} (owner {entry.owner}, {entry.tracking})")
    print(f"{args.file}: {len(quarantine.entries)} entries as of {as_of}, {expired} expired")
    return 1 if expired else 0


def add_quarantine_commands(sub: Any) -> Any:
    """Register ``dome quarantine`` and ``check``; return its subcommands, where
    ``cli.ask`` adds ``suggest`` (called by ``cli.main``)."""
    from ..config.quarantine import DEFAULT_FILE

    group = sub.add_parser(
        "quarantine",
        help="the quarantine file: check it, or suggest entries from the history (docs/quarantine.md)",
    )
    commands = group.add_subparsers(dest="quarantine_command", required=True)
    p = commands.add_parser("check", help="read the quarantine file as a run would; list its entries")
    p.set_defaults(func=cmd_check)
    p.add_argument("file", metavar="FILE", nargs="?", default=DEFAULT_FILE, help=f"default {DEFAULT_FILE}")
    p.add_argument("--policy", metavar="FILE", help="the risk policy (its quarantine.max_days)")
    return commands
