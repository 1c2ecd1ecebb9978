"""SQLite for the embedded default (PostgreSQL in production needs none of this).

SQLAlchemy 1.4 gives an SQLite file no connection pool: every session opens the file
again. ``sqlite_engine`` keeps a few connections open and sets, on each one:

* ``journal_mode=WAL``: readers never wait for the writer, and a commit appends to the
  log instead of rewriting pages (the setting stays with the file). WAL needs a local
  file system, not a network share;
* ``synchronous``: ``FULL`` (the default here) syncs every commit to disk; ``NORMAL``
  syncs at checkpoints only: a commit survives a crash of the process, but a power cut
  or an operating-system crash can lose the last ones. The tracker store uses NORMAL
  (conversation history); the handoff store keeps FULL (a handoff or callback request
  must not be lost);
* ``busy_timeout``: a writer waits up to 5 s for another instead of failing at once.
"""
from __future__ import annotations

import logging
import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import QueuePool

logger = logging.getLogger(__name__)
SYNCHRONOUS = ("FULL", "NORMAL")


def is_sqlite_file(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def sqlite_engine(url: URL, synchronous: str = "FULL", **kwargs: Any) -> Engine:
    """An engine for an SQLite file with pooled connections in WAL mode (see above)."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
    engine = sa.create_engine(url, poolclass=QueuePool, pool_size=4, max_overflow=8,
                              connect_args={"check_same_thread": False}, **kwargs)
    pragmas = ("PRAGMA journal_mode=WAL", f"PRAGMA synchronous={synchronous}", "PRAGMA busy_timeout=5000")

    @event.listens_for(engine, "connect")
    def _on_connect(connection: sqlite3.Connection, _record: Any) -> None:
        cursor = connection.cursor()
        try:
            for pragma in pragmas:
                try:
                    cursor.execute(pragma)
                except sqlite3.OperationalError as error:
                    logger.warning("SQLite %s: %s failed: %s", url.database, pragma, error)
        finally:
            cursor.close()

    return engine
