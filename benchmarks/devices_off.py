"""A pytest plugin that switches off pytest-dome's performance devices, to measure
what each buys: ``-p devices_off`` with ``DOME_DEVICES_OFF=gc_pause,writer``
(``benchmarks/`` on ``PYTHONPATH``). Never used by the plugin itself.

- ``gc_pause``: no pause of the garbage collector from the session's finish to
  pytest's exit collections (``speedups.ExitCollectionPause``);
- ``writer``: no result writer process: every task result is written by the
  session at its finish (``speedups.ResultWriterProcess``).
"""

from __future__ import annotations

import os
from collections.abc import Generator

from pytest_dome.runfolder import speedups

OFF = set(filter(None, os.environ.get("DOME_DEVICES_OFF", "").split(",")))

if "gc_pause" in OFF:

    @speedups.hookimpl(wrapper=True, tryfirst=True)
    def _no_pause(self: speedups.ExitCollectionPause) -> Generator[None, None, None]:
        return (yield)

    speedups.ExitCollectionPause.pytest_sessionfinish = _no_pause  # type: ignore[method-assign]

if "writer" in OFF:

    def _no_writer(self: speedups.ResultWriterProcess, folder: object) -> None:
        self.error, self._buffer, self._proc = "switched off", bytearray(), None

    speedups.ResultWriterProcess.__init__ = _no_writer  # type: ignore[method-assign]
