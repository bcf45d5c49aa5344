"""The private pytest APIs dome uses: all of them, here and nowhere else.

Both serve dome's retry (``runner.TaskRunner.pytest_runtest_protocol``), which
runs a failed test again as a whole new attempt inside the one call of pytest's
``pytest_runtest_protocol`` hook. pytest has no public API for either step.
pytest is tested from 8.3 to the newest (``.ci/run``); when one of these changes
there, the retry tests (``tests/test_retries.py``) fail, not a user's run quietly.
The import contract (``pyproject.toml``, "private-pytest") lets no other module
import ``_pytest``.
"""

from __future__ import annotations

import pytest
from _pytest.runner import runtestprotocol


def run_phases(item: pytest.Item, nextitem: pytest.Item | None) -> list[pytest.TestReport]:
    """Run ``item``'s setup, call and teardown once, as pytest's own runner does, and
    return the reports without logging them.

    Why: an attempt that will be retried must log only its failing report, as a
    rerun, so that reporters (the terminal, junit XML) see one test; pytest's
    runner logs every report as it makes it. ``runtestprotocol(log=False)`` is the
    runner's own loop with the logging left to the caller. If pytest renames it
    or drops ``log``, the import or the call fails at the first retried test, and
    every retry test fails.
    """
    return runtestprotocol(item, nextitem=nextitem, log=False)


def teardown_all(item: pytest.Item) -> None:
    """Tear down every node that is set up (every fixture, of any scope, and every
    collector), as pytest does after the session's last test.

    Why: a retry starts from scratch; a fixture or collector whose setup failed
    would otherwise hand back its cached error, and the attempt's outcome would
    depend on the next item. pytest keeps what is set up in the private
    ``session._setupstate``; ``teardown_exact(None)`` is the call its runner makes
    at the end of the session. If pytest renames either, the first retry fails
    with an AttributeError (pytest's INTERNALERROR), and the retry tests fail.
    """
    item.session._setupstate.teardown_exact(None)
