"""``dome history import``: run folders into the store, each verified first.

Only evidence that ``dome verify`` accepts is recorded (``runfolder.audit.read_intact``:
complete, intact, its decision replayed); a run that does not verify is refused
with the verifier's one line. Importing is idempotent: the store's
``record_finished`` leaves a run with the same manifest digest as it is and
replaces one with another digest (a replaced run).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..runfolder.layout import MANIFEST, STARTED
from .records import imported, task_rows
from .store import Store


@dataclass(frozen=True)
class Imported:
    """What became of one run folder: ``recorded`` (inserted, updated, unchanged)
    or ``refused`` with the one line that says why."""

    run_dir: Path
    recorded: str | None
    problem: str | None = None


def run_folders(paths: Iterable[Path]) -> Iterator[Path | str]:
    """Each path as run folders: a run folder itself, or a runtime folder's runs
    (its folders; dotfiles are dome's own). A path that is neither: a problem line."""
    for path in paths:
        if (path / MANIFEST).is_file() or (path / STARTED).is_file():
            yield path
        elif path.is_dir():
            children = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
            if not children:
                yield f"{path}: no run folders in it; give a run folder or a runtime folder of runs"
            yield from children
        else:
            yield f"{path}: no such folder; give a run folder or a runtime folder of runs"


def import_run(store: Store, run_dir: Path) -> Imported:
    from ..runfolder.audit import read_intact
    from ..runfolder.reader import RunReadError

    try:
        recorded = read_intact(run_dir)
        if recorded.gate is None:
            raise RunReadError(run_dir, "a shard's partial run has no decision; import the merged run")
    except RunReadError as exc:
        return Imported(run_dir, None, str(exc))
    outcome = store.record_finished(imported(recorded), task_rows(recorded))
    return Imported(run_dir, outcome)
