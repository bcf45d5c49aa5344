"""The run history: every gated run recorded in a store (SQLite by default, or a
PostgreSQL database a team's CI shares), written at a session's start and finish
and by ``dome history import``, read by ``dome history`` and the commands built on
it. See docs/history.md (the manual) and ``store`` (the API).

Imports nothing heavy at import time: a driver (``sqlite3``, ``psycopg``) is
imported when a store is opened.
"""
