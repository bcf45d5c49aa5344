"""The baseline of a gated run (``--dome-baseline=RUN``).

A baseline is another complete run, intact; it is read once, when the session is
configured, into a summary (each planned task's outcome, flakiness and duration),
which the run records as ``inputs/baseline.summary.json`` and decides with. The
reading is the reader's (:func:`reader.read_summary`: the files the summary is
made of, each checked against its manifest's hash); the comparison is
``core/comparison.py``; showing it to people is ``report/baseline.py``.
"""

from __future__ import annotations

from pathlib import Path

from ..core.comparison import RecordedBaseline
from .reader import RunReadError, find_run, read_summary


class BaselineError(ValueError):
    """A run that cannot be compared with: one line that says why."""


def read_baseline(source: str, runtime_dir: Path, invocation_dir: Path) -> RecordedBaseline:
    """``--dome-baseline``: a run folder (relative to the invocation folder) or a run id."""
    path = invocation_dir / source
    try:
        run_dir = find_run(str(path) if path.is_dir() else source, runtime_dir)
        return RecordedBaseline.of(read_summary(run_dir))
    except RunReadError as exc:
        raise BaselineError(f"--dome-baseline: {exc}") from None
