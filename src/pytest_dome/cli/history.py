"""``dome history`` (recent runs from the store) and ``dome history import DIR...``
(run folders into it, each verified first). Both take ``--history URL``; without
it the store is found as a session finds it (``DOME_HISTORY_URL``, then
``[tool.dome] history`` of ./pyproject.toml, then the SQLite file in the runtime
folder). :func:`store_url` is that lookup for every command that reads the store.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..history.store import RunRow
    from ..history.url import StoreUrl


class Refused(Exception):
    """Bad input or a store that fails: the one line to print."""


def store_url(option: str | None, cwd: Path | None = None) -> StoreUrl:
    """The store a ``dome`` command reads: ``--history``, ``DOME_HISTORY_URL``,
    ``[tool.dome] history`` (relative to the project), the default SQLite file in
    ``[tool.dome] runtime_dir`` (or ops/runtime/runs). Refused: ``off``, a bad URL."""
    from ..config.inikeys import DEFAULT_RUNTIME_DIR
    from ..config.inputs import read_pyproject_table
    from ..config.options import ConfigError
    from ..history.url import ENV, HistoryUrlError, resolve

    root = cwd or Path.cwd()
    try:
        table = read_pyproject_table(root)
        url = resolve(
            option,
            os.environ.get(ENV),
            table.get("history"),
            invocation_dir=root,
            rootdir=root,
            runtime_dir=root / table.get("runtime_dir", DEFAULT_RUNTIME_DIR),
            option_where="--history",
        )
    except (ConfigError, HistoryUrlError) as exc:
        raise Refused(str(exc)) from None
    if url is None:
        raise Refused("the run history is off (history = off); give --history URL")
    return url


def open_at(url: StoreUrl, create: bool) -> Any:
    """The store at ``url`` for a command; ``create=False`` (a question): one that
    is not there is refused, never made."""
    from ..history.store import HistoryError, open_store

    if url.kind == "sqlite":
        path = Path(url.target)
        if not create and not path.is_file():
            raise Refused(f"no history store at {path}; record a run, or give --history URL")
        if create:
            from ..runfolder.lifecycle import probe_writable

            try:
                probe_writable(path.parent)  # the folder, made if needed (the one writer's)
            except OSError as exc:
                raise Refused(f"cannot write {path.parent}: {exc.strerror or exc}") from None
    try:
        return open_store(url, _redactor())
    except HistoryError as exc:
        raise Refused(str(exc)) from None


def _redactor() -> Any:
    from ..core.redact import Redactor

    return Redactor()


def _day(value: str | None, flag: str, after: bool = False) -> str | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Refused(f"{flag}: {value!r} is not a date; give YYYY-MM-DD") from None
    return (day + timedelta(days=1) if after else day).isoformat()


def cmd_history(args: argparse.Namespace) -> int:
    from ..history.store import HistoryError

    try:
        if args.limit is not None and args.limit < 1:
            raise Refused(f"--limit: {args.limit} is not a positive number of runs")
        since, until = _day(args.since, "--since"), _day(args.until, "--until", after=True)
        with open_at(store_url(args.history), create=False) as store:
            runs = store.list_runs(branch=args.branch, since=since, until=until, limit=args.limit)
    except (Refused, HistoryError) as exc:
        print(f"dome history: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.as_json() for r in runs], indent=2, sort_keys=True))
        return 0
    for line in describe(runs):
        print(line)
    return 0


def describe(runs: list[RunRow]) -> list[str]:
    """One line per run, newest first."""
    if not runs:
        return ["no runs recorded (that match)"]
    lines = []
    for r in runs:
        where = "@".join(x for x in (r.branch, (r.commit_sha or "")[:12]) if x) or "-"
        if r.state == "started":
            lines.append(f"{r.started_at[:19]}Z  {r.run_id}  started, never decided  {where}")
            continue
        c = r.counts
        counts = f"{c.get('passed', 0)} passed, {c.get('failed', 0) + c.get('error', 0)} failed"
        counts += "".join(f", {c[k]} {k}" for k in ("flaky", "missing", "skipped") if c.get(k))
        lines.append(
            f"{r.started_at[:19]}Z  {r.run_id}  {r.decision} ({r.promotion})  {where}  "
            f"{r.duration_s or 0:.1f}s  {counts}"
        )
    return lines


def cmd_import(args: argparse.Namespace) -> int:
    from ..history.importer import import_run, run_folders
    from ..history.store import HistoryError

    refused = recorded = 0
    try:
        with open_at(store_url(args.import_history or args.history), create=True) as store:
            for item in run_folders(Path(d) for d in args.dirs):
                if isinstance(item, str):
                    print(f"dome history import: {item}", file=sys.stderr)
                    refused += 1
                    continue
                result = import_run(store, item)
                if result.problem is not None:
                    print(f"dome history import: refused {result.problem}", file=sys.stderr)
                    refused += 1
                else:
                    print(f"{item.name}: {result.recorded}")
                    recorded += 1
    except (Refused, HistoryError) as exc:
        print(f"dome history import: {exc}", file=sys.stderr)
        return 2
    print(f"{recorded} run(s) recorded, {refused} refused")
    return 1 if refused else 0


def add_history_commands(sub: Any) -> None:
    p = sub.add_parser("history", help="recent runs from the run history store; import run folders")
    p.set_defaults(func=cmd_history)
    url_help = "the store: a SQLite file, postgresql://..., (default: as the session finds it)"
    p.add_argument("--history", metavar="URL", help=url_help)
    p.add_argument("--branch", help="only runs of this branch")
    p.add_argument("--since", metavar="DATE", help="only runs started on or after DATE (YYYY-MM-DD, UTC)")
    p.add_argument("--until", metavar="DATE", help="only runs started on or before DATE (YYYY-MM-DD, UTC)")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N runs (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    inner = p.add_subparsers(dest="history_command")
    q = inner.add_parser("import", help="record run folders (each verified first) in the store")
    q.set_defaults(func=cmd_import)
    q.add_argument("dirs", metavar="DIR", nargs="+", help="a run folder, or a runtime folder of runs")
    q.add_argument("--history", dest="import_history", metavar="URL", help=url_help)
