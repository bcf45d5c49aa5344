"""Questions answered from the run history store: ``dome flaky``, ``dome slo
--history`` (its report; the command is ``cli.main``'s) and ``dome quarantine
suggest`` (docs/history.md).

Each finds the store as ``dome history`` does (:func:`.history.store_url`) and
never creates one: a store that is not there is one line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .history import Refused, open_at, store_url

URL_HELP = "the store: a SQLite file, postgresql://... (default: as the session finds it)"


def _window(args: argparse.Namespace) -> Any:
    from ..history.flaky import DEFAULT_RUNS, Window

    if args.runs is not None and args.days is not None:
        raise Refused("give --runs N or --days D, not both")
    if args.runs is not None and args.runs < 1:
        raise Refused(f"--runs: {args.runs} is not a positive number of runs")
    if args.days is not None and args.days < 1:
        raise Refused(f"--days: {args.days} is not a positive number of days")
    if args.days is not None:
        since = (datetime.now(timezone.utc) - timedelta(days=args.days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return Window(runs=None, since=since, branch=args.branch)
    return Window(runs=args.runs or DEFAULT_RUNS, branch=args.branch)


def _what(window: Any, runs: int) -> str:
    """The window in words: '12 decided runs of branch main (the last 200 at most)'."""
    branch = f" of branch {window.branch}" if window.branch else ""
    span = f"the last {window.runs} at most" if window.since is None else f"started since {window.since[:10]}"
    return f"{runs} decided run(s){branch} ({span})"


def flaky_lines(tests: list[Any], what: str) -> list[str]:
    if not tests:
        return [f"no flaky test over {what}"]
    lines = [f"{len(tests)} flaky test(s) over {what}; rate = runs it flaked in / runs it ran in:"]
    for t in tests:
        low, high = t.interval
        lines.append(
            f"  {t.rate:6.1%} [{low:.1%}-{high:.1%}]  {t.flaked}/{t.ran}  {t.node_id}  "
            f"({t.retried} passed on retry, {t.flipped} failed on a commit that passed; "
            f"first {t.first_seen[:10]}, last {t.last_seen[:10]})"
        )
        shown = ", ".join(t.evidence[:5]) + (f", ... ({len(t.evidence)} runs)" if len(t.evidence) > 5 else "")
        lines.append(f"         runs: {shown}")
    return lines


def cmd_flaky(args: argparse.Namespace) -> int:
    from ..history.flaky import flaky_tests
    from ..history.store import HistoryError

    try:
        window = _window(args)
        with open_at(store_url(args.history), create=False) as store:
            tests, runs = flaky_tests(store, window)
            if args.html:
                from ..report.history_html import history_html
                from ..runfolder.writer import atomic_write

                atomic_write(Path(args.html), history_html(store, window, tests).encode())
    except (Refused, HistoryError) as exc:
        print(f"dome flaky: {exc}", file=sys.stderr)
        return 2
    what = _what(window, runs)
    if args.json:
        doc = {"kind": "flaky.report", "window": what, "runs": runs, "tests": [t.as_json() for t in tests]}
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print("\n".join(flaky_lines(tests, what)))
        if args.html:
            print(f"written to {args.html}")
    return 0


def store_slo(option: str, month: str) -> dict[str, Any]:
    """``dome slo --history URL``: the month's SLO report from the store
    (report/slo_store.py); a store that cannot be read is an SloError's one line."""
    from ..history.store import HistoryError
    from ..report.slo import SloError
    from ..report.slo_store import compute_store

    try:
        with open_at(store_url(option), create=False) as store:
            return compute_store(store, month)
    except (Refused, HistoryError) as exc:
        raise SloError(str(exc)) from None


def cmd_suggest(args: argparse.Namespace) -> int:
    """Print quarantine entries for the flaky tests (never edits a file)."""
    from ..history.flaky import flaky_tests
    from ..history.store import HistoryError
    from .suggest import suggestions

    try:
        if args.expires_in < 1:
            raise Refused(f"--expires-in: {args.expires_in} is not a positive number of days")
        window = _window(args)
        with open_at(store_url(args.history), create=False) as store:
            tests, runs = flaky_tests(store, window)
    except (Refused, HistoryError) as exc:
        print(f"dome quarantine suggest: {exc}", file=sys.stderr)
        return 2
    print(suggestions(tests, _what(window, runs), args.owner, args.min_flaked, args.expires_in))
    return 0


def _window_arguments(p: Any) -> None:
    p.add_argument("--history", metavar="URL", help=URL_HELP)
    p.add_argument("--runs", type=int, metavar="N", help="the last N decided runs (default 200)")
    p.add_argument("--days", type=int, metavar="D", help="the runs started in the last D days")
    p.add_argument("--branch", help="only runs of this branch")


def add_ask_commands(sub: Any, quarantine: Any) -> None:
    """``dome flaky``; ``dome quarantine suggest`` under ``quarantine`` (the
    subcommands of ``dome quarantine``, from :mod:`.quarantine`)."""
    p = sub.add_parser("flaky", help="tests that flaked across the runs of the history store")
    p.set_defaults(func=cmd_flaky)
    _window_arguments(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--html", metavar="FILE", help="also write the history page (charts, timelines)")

    q = quarantine.add_parser("suggest", help="propose quarantine entries from dome flaky (prints only)")
    q.set_defaults(func=cmd_suggest)
    _window_arguments(q)
    q.add_argument("--owner", help="the owner to propose (default: a placeholder to fill in)")
    q.add_argument(
        "--min-flaked", type=int, default=2, metavar="K", help="tests that flaked in K runs or more (2)"
    )
    q.add_argument("--expires-in", type=int, default=30, metavar="DAYS", help="expiry: DAYS from today (30)")
