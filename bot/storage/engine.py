"""The one way this project opens a database: every engine (handoff store, tracker store,
migrations, retention, the unanswered report, erasing a chat) is made here.

* an SQLite file: pooled, WAL, ``synchronous`` as asked (bot/storage/sqlite.py); a file that
  does not exist is made only with ``create=True``, else ``open_engine`` answers None (nothing
  recorded yet) and a file that is not SQLite is refused before anything is changed in it;
  ``read_only`` opens it mode=ro (SQLite itself then refuses writes, and says what is wrong);
* SQLite in memory (tests): one connection shared by every thread;
* anything else (PostgreSQL in production): ``engine_options`` (a connect timeout, Rasa's
  ``POSTGRESQL_SCHEMA``, so that the helpline tables live in the schema Rasa keeps its events
  in), connections tested before use.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Dict, Optional, Type, Union
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.pool import NullPool, StaticPool

from bot.storage.sqlite import is_sqlite_file, sqlite_engine
from bot.storage.urls import engine_options, first_line, parse, redact

SQLITE_HEADER = b"SQLite format 3\x00"


class DatabaseError(Exception):
    """A database URL that cannot be used: one line for the operator."""


def _merged(options: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    """``options`` updated with ``extra``; their ``connect_args`` are merged, ``extra``'s win."""
    merged = {**options, **extra}
    if "connect_args" in options and "connect_args" in extra:
        merged["connect_args"] = {**options["connect_args"], **extra["connect_args"]}
    return merged


def open_engine(url: Union[str, URL], *, create: bool = False, synchronous: str = "FULL", read_only: bool = False,
                future: bool = True, error: Type[Exception] = DatabaseError, **extra: Any) -> Optional[Engine]:
    """An engine for ``url`` (see above), or None for an SQLite file that does not exist and is not
    to be created. Raises ``error`` for a URL that is not one, a missing driver, a file that is not
    SQLite. ``extra``: more create_engine options (their connect_args merged with ours)."""
    parsed = parse(url, error) if isinstance(url, str) else url
    shown = redact(str(url)) if isinstance(url, str) else parsed.render_as_string(hide_password=True)
    try:
        if is_sqlite_file(parsed) and "uri" not in parsed.query:
            path = Path(parsed.database).expanduser()
            if not path.is_file():
                if not create:
                    return None  # never an empty database where something was to be read
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not (create or read_only):  # a tool that erases what the servers wrote
                with path.open("rb") as handle:
                    header = handle.read(16)
                if header and header != SQLITE_HEADER:  # an empty file is an empty database
                    raise error(f"{path} is not an SQLite database ({shown})")
            if read_only:  # SQLite itself refuses writes
                location = f"file:{quote(str(path.resolve()))}?mode=ro"
                return sa.create_engine("sqlite://", future=future,
                                        creator=lambda: sqlite3.connect(location, uri=True))
            return sqlite_engine(parsed, synchronous=synchronous, future=future)
        if parsed.get_backend_name() == "sqlite":
            # in memory: one connection shared by every thread, else each has its own, empty
            return sa.create_engine(parsed, future=future, poolclass=StaticPool,
                                    connect_args={"check_same_thread": False})
        return sa.create_engine(parsed, future=future, **_merged({"pool_pre_ping": True, **engine_options(parsed)},
                                                                 extra))
    except (NoSuchModuleError, ImportError) as exc:
        raise error(f"cannot use {shown!r}: {first_line(exc)}") from None


def database_engine(url: Union[str, URL], *, synchronous: str = "FULL", future: bool = True,
                    error: Type[Exception] = DatabaseError, **extra: Any) -> Engine:
    """``open_engine`` for a server: an SQLite file that does not exist yet is made."""
    engine = open_engine(url, create=True, synchronous=synchronous, future=future, error=error, **extra)
    assert engine is not None  # create=True
    return engine


def exclusive_sqlite_engine(url: URL, wait_seconds: float) -> Engine:
    """An SQLite file's engine of one unpooled connection in autocommit mode, so that the caller
    begins its own transaction (BEGIN IMMEDIATE: the migrations' lock), waiting up to
    ``wait_seconds`` for another writer."""
    return sa.create_engine(url, poolclass=NullPool, future=True, connect_args={
        "isolation_level": None, "timeout": wait_seconds, "check_same_thread": False})
