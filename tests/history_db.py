"""The run history's databases for the tests: a real PostgreSQL and SQLite files,
never a mock.

PostgreSQL: the server ``DOME_TEST_PG_URL`` names (``.ci/run`` starts one), else a
throwaway cluster this process starts (``scripts/pg_cluster.py``: initdb in a
temporary folder, a Unix socket only). Each test gets a database of its own. With
CI set and no server to be had, the tests that need one fail: they never skip.
Loaded by tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import pg_cluster

BACKENDS = ("sqlite", "postgresql")


def _no_server(reason: str) -> None:
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"no PostgreSQL for the history tests under CI: {reason}")
    pytest.skip(f"no PostgreSQL here: {reason}")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A URL of a PostgreSQL server's maintenance database, for this test session."""
    given = os.environ.get("DOME_TEST_PG_URL")
    if given:
        yield given
        return
    try:
        cluster = pg_cluster.start()
    except pg_cluster.ClusterError as exc:
        _no_server(str(exc))
        return
    try:
        yield cluster.url
    finally:
        cluster.stop()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    import psycopg

    name = f"dome_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(pg_admin_url, name)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=BACKENDS)
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each kind: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url
