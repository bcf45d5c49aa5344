"""The one SQL dialect layer, kept tiny: how SQLite and PostgreSQL differ for the
store. Everything else is the SQL both speak (``INSERT ... ON CONFLICT ... DO
UPDATE`` included).

- placeholders: the store's SQL is written with ``?``; PostgreSQL's driver takes ``%s``;
- a write transaction: SQLite's ``BEGIN IMMEDIATE`` (the file's write lock taken at
  once, waited for up to the busy timeout), PostgreSQL's transaction and, for what
  must run once (migrations) or per run id, a transaction-level advisory lock;
- bulk rows: ``executemany`` on SQLite, ``COPY ... FROM STDIN`` on PostgreSQL.

The drivers are imported here, when a store is opened, never at import time.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .url import StoreUrl

BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another's lock before it gives up."""
CONNECT_TIMEOUT_S = 5
"""How long a PostgreSQL connection may take (an unreachable server: this long)."""


class Dialect:
    """A connection to one kind of store, and the few statements that differ."""

    name: str
    errors: tuple[type[BaseException], ...]
    """The driver's errors (with OSError): a store that fails raises one of these."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def sql(self, text: str) -> str:
        return text

    def execute(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.execute(self.sql(text), tuple(params))
        rows = cursor.fetchall() if cursor.description is not None else []
        return [tuple(r) for r in rows]

    @contextmanager
    def write(self, lock: str | None = None) -> Iterator[None]:
        raise NotImplementedError

    def insert_many(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.connection.close()


class SQLite(Dialect):
    name = "sqlite"

    def __init__(self, path: str) -> None:
        import sqlite3

        self.errors = (sqlite3.Error, OSError)
        # isolation_level=None: no implicit transactions; each write is BEGIN IMMEDIATE.
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        super().__init__(connection)
        if self.execute("PRAGMA journal_mode")[0][0] != "wal":
            self.execute("PRAGMA journal_mode=WAL")  # persistent: once per file
        self.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives a crash of the process

    @contextmanager
    def write(self, lock: str | None = None) -> Iterator[None]:
        self.connection.execute("BEGIN IMMEDIATE")  # one writer at a time: the whole file
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def insert_many(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        marks = ", ".join("?" for _ in columns)
        self.connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


class PostgreSQL(Dialect):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self.errors = (psycopg.Error, OSError)
        connection = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        super().__init__(connection)

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextmanager
    def write(self, lock: str | None = None) -> Iterator[None]:
        with self.connection.transaction():
            if lock is not None:  # held until the transaction ends
                key = zlib.crc32(lock.encode()) - 2**31
                self.connection.execute("SELECT pg_advisory_xact_lock(%s::bigint)", (key,))
            yield

    def insert_many(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        with self.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def connect(url: StoreUrl) -> Dialect:
    """A connection to the store at ``url`` (raises the driver's errors, or ImportError)."""
    if url.kind == "sqlite":
        return SQLite(url.target)
    return PostgreSQL(url.target)
