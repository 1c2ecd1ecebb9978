"""SQLite settings for the embedded default (PostgreSQL in production needs none of this).

Every SQLAlchemy engine in the process that opens an SQLite file gets, on each new
connection:

* ``journal_mode=WAL``: readers never wait for the writer, and a commit appends to the
  log instead of rewriting pages. The setting stays with the database file;
* ``synchronous=NORMAL``: one fsync per checkpoint instead of two per commit. A commit
  survives a crash of the process; a power cut or an operating-system crash can lose the
  last commits (SQLite's documented trade-off for WAL);
* ``busy_timeout``: a writer waits up to 5 s for another instead of failing at once.

The Rasa server installs it for its tracker store and the handoff store
(bot/channels/webchat.py); the measured effect is in docs/benchmark.md.
"""
from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000")


def _on_connect(connection, _record) -> None:
    if not isinstance(connection, sqlite3.Connection):
        return
    cursor = connection.cursor()
    try:
        for pragma in PRAGMAS:
            cursor.execute(pragma)
    except sqlite3.OperationalError:
        pass  # a read-only connection cannot change the journal; it reads a WAL file as it is
    finally:
        cursor.close()


def use_wal_for_sqlite() -> None:
    """Apply the settings above to every SQLite connection opened from now on (idempotent)."""
    if not event.contains(Engine, "connect", _on_connect):
        event.listen(Engine, "connect", _on_connect)
