"""Schema of the helpline database: Alembic migrations in bot/storage/migrations/versions.

    python -m bot.storage.migrate upgrade [REVISION]     bring the database to this release's schema (default: head)
    python -m bot.storage.migrate current                the database's revision, and whether it is behind
    python -m bot.storage.migrate history                the revisions, newest first
    python -m bot.storage.migrate check                  exit 1 when the database is behind or differs from the models
    python -m bot.storage.migrate revision -m "MESSAGE" [--autogenerate]    a new revision file (developers)
    python -m bot.storage.migrate downgrade REVISION     undo revisions down to REVISION (developers)

Every command takes ``--database-url URL`` (default: HELPLINE_DATABASE_URL, else var/helpline.db).

The servers upgrade the database when they start (HandoffStore): a quick look at
alembic_version when it is already at head, else the migrations run under a lock, so
that several servers starting at once never run them twice: a PostgreSQL advisory lock
held by the transaction the migrations run in, or on SQLite the file's write lock
(BEGIN IMMEDIATE). With HELPLINE_AUTO_MIGRATE=false the servers refuse to start while
the database is behind, and an operator runs ``make migrate`` first.

A database made before migrations existed (the tables, no alembic_version) is adopted:
stamped at the first revision, which is exactly the schema those releases created, then
upgraded.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, Optional, Sequence, Tuple

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from bot import config
from bot.storage.engine import DatabaseError, database_engine, exclusive_sqlite_engine, open_engine
from bot.storage.sqlite import is_sqlite_file
from bot.storage.urls import first_line, redact

logger = logging.getLogger(__name__)
# Alembic says this on every run; on SQLite the migrations do run in a transaction (see locked)
logging.getLogger("alembic.runtime.migration").addFilter(
    lambda record: not record.getMessage().startswith(("Context impl ", "Will assume ")))

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the schema that create_all made before migrations
BASELINE_TABLES: FrozenSet[str] = frozenset({
    "staff_users", "handoff_requests", "staff_messages", "audit_log", "transcript_messages", "staff_sessions",
    "callback_requests",
})
AUTO_MIGRATE_ENV = config.AUTO_MIGRATE
# pg_advisory_xact_lock key, the same in every process: "helpline" in ASCII
PG_LOCK_KEY = int.from_bytes(b"helpline", "big", signed=True)
SQLITE_LOCK_WAIT = 300  # seconds a starting server waits for another one's migration on SQLite
# Alembic's `op` and `context` are module-wide: one migration at a time in a process, too
IN_PROCESS = threading.Lock()


class SchemaError(RuntimeError):
    """The database's schema does not fit this release: one message for the operator."""


def auto_migrate(environ: Optional[Dict[str, str]] = None) -> bool:
    """HELPLINE_AUTO_MIGRATE: true (the default) or false."""
    try:
        return config.auto_migrate(environ)
    except config.ConfigError as exc:
        raise SchemaError(str(exc)) from None


def shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


# --------------------------------------------------------------------------- the revisions

def alembic_config(connection: Optional[Connection] = None) -> Config:
    """Alembic's configuration, in code (no alembic.ini); ``connection`` is what env.py migrates."""
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def heads() -> Tuple[str, ...]:
    """This release's schema: the newest revision(s)."""
    return tuple(sorted(scripts().get_heads()))


@lru_cache(maxsize=1)
def known_revisions() -> FrozenSet[str]:
    return frozenset(script.revision for script in scripts().walk_revisions())


def next_revision_id() -> str:
    """Revisions are numbered 0001, 0002, ... (the file names sort in order)."""
    numbers = [int(rev) for rev in known_revisions() if rev.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


# --------------------------------------------------------------------------- the database's revision

def stored_revisions(engine: Engine) -> Optional[Tuple[str, ...]]:
    """What alembic_version holds (one query), or None when there is no such table (or no database)."""
    try:
        with engine.connect() as connection:
            return tuple(sorted(connection.execute(text("select version_num from alembic_version")).scalars()))
    except (OperationalError, ProgrammingError):
        return None


def _current(connection: Connection) -> Tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def _check_known(url: URL, revisions: Sequence[str]) -> None:
    unknown = [rev for rev in revisions if rev not in known_revisions()]
    if unknown:
        raise SchemaError(
            f"the helpline database at {shown(url)} is at schema revision {', '.join(unknown)}, which this "
            f"release does not know (its newest is {', '.join(heads())}): it was upgraded by a newer release. "
            f"Run that release, or restore a backup made before the upgrade.")


def _behind(url: URL, revisions: Optional[Sequence[str]]) -> str:
    where = (f"is at schema revision {', '.join(revisions)}" if revisions
             else "has no schema revision (it is new, or was made by a release before migrations)")
    return (f"the helpline database at {shown(url)} {where}; this release needs {', '.join(heads())}. "
            f"{AUTO_MIGRATE_ENV}=false, so the servers do not upgrade it themselves: run `make migrate` "
            f"(python -m bot.storage.migrate upgrade) with the same HELPLINE_DATABASE_URL, then start them again.")


def ensure_schema(engine: Engine, auto: Optional[bool] = None) -> None:
    """At server start: nothing when the database is at head (one query); else upgrade it, or
    with ``auto`` false (default: HELPLINE_AUTO_MIGRATE) raise SchemaError naming `make migrate`."""
    auto = auto_migrate() if auto is None else auto
    stored = stored_revisions(engine)
    if stored == heads():
        return
    if stored:
        _check_known(engine.url, stored)
    if not auto:
        raise SchemaError(_behind(engine.url, stored))
    upgrade(engine)


# --------------------------------------------------------------------------- migrating under a lock

@contextmanager
def locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other process's migration can run beside.

    PostgreSQL: an advisory lock held until this transaction ends (commit, rollback or a
    lost connection). SQLite: BEGIN IMMEDIATE takes the file's write lock (readers go on);
    a second server waits up to SQLITE_LOCK_WAIT seconds. The caller commits.
    """
    url = engine.url
    if is_sqlite_file(url):
        # a connection of its own, in autocommit mode so that the transaction is ours to begin
        own = exclusive_sqlite_engine(url, SQLITE_LOCK_WAIT)
        try:
            with own.connect() as connection:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
        finally:
            own.dispose()
    elif url.get_backend_name() == "postgresql":
        with engine.connect() as connection:
            if not connection.execute(text("select pg_try_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY}).scalar():
                logger.info("another process is migrating the helpline database: waiting for it")
                connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            yield connection
    else:
        with engine.connect() as connection:
            yield connection


def upgrade(engine: Engine, target: str = "head") -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """Upgrade to ``target`` under the lock, adopting a database made before migrations:
    (revisions before, revisions after)."""
    with IN_PROCESS, locked(engine) as connection:
        before = _current(connection)  # again: another server may have done it while this one waited
        _check_known(engine.url, before)
        config = alembic_config(connection)
        if not before:
            names = set(inspect(connection).get_table_names())
            present = BASELINE_TABLES & names
            if present and "alembic_version" not in names:
                missing = sorted(BASELINE_TABLES - present)
                logger.warning("the helpline database at %s was made before migrations: adopting it at revision "
                               "%s%s", shown(engine.url), BASELINE,
                               f" (creating the missing tables {', '.join(missing)})" if missing else "")
                if not missing:
                    command.stamp(config, BASELINE)
                # else revision 0001 makes only the tables that are missing
        command.upgrade(config, target)
        after = _current(connection)
        connection.commit()
    if after != before:
        logger.info("helpline database at %s upgraded from %s to %s", shown(engine.url),
                    ", ".join(before) or "an empty schema", ", ".join(after))
    return before, after


def downgrade(engine: Engine, target: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    with IN_PROCESS, locked(engine) as connection:
        before = _current(connection)
        command.downgrade(alembic_config(connection), target)
        after = _current(connection)
        connection.commit()
    return before, after


def describe(engine: Engine) -> str:
    """The database's revision and what it means, for `python -m bot.storage.migrate current`."""
    stored = stored_revisions(engine)
    head = ", ".join(heads())
    if stored == heads():
        return f"{head} (head: up to date)"
    if stored and any(rev not in known_revisions() for rev in stored):
        return f"{', '.join(stored)} (unknown to this release, whose newest is {head}: upgraded by a newer release)"
    if stored:
        return f"{', '.join(stored)} (behind: this release needs {head}; run `make migrate`)"
    with engine.connect() as connection:
        names = set(inspect(connection).get_table_names())
    if names & BASELINE_TABLES:
        return f"none: made before migrations (adopted at {BASELINE} and upgraded by `make migrate` or at start)"
    return f"none: no helpline tables yet (created by `make migrate` or at start; this release needs {head})"


def prepare(url: str, auto: Optional[bool] = None) -> None:
    """What HandoffStore does at start, for bot.ops.run before it starts the servers."""
    engine = helpline_engine(url, create=True)
    try:
        ensure_schema(engine, auto)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- command line

def helpline_engine(url: str, create: bool) -> Engine:
    """HandoffStore's engine (bot/storage/engine.py); an SQLite file that does not exist is made
    only if ``create``."""
    if create:
        return database_engine(url, synchronous="FULL")
    engine = open_engine(url, synchronous="FULL")
    if engine is None:
        raise SchemaError(f"no database at {redact(url)} yet (the servers create it at start, or run `make migrate`)")
    return engine


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.storage.migrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=config.database_url(),
                        help="the helpline database (default: HELPLINE_DATABASE_URL, else var/helpline.db)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    up = commands.add_parser("upgrade", help="bring the database to this release's schema")
    up.add_argument("revision", nargs="?", default="head")
    commands.add_parser("current", help="the database's revision")
    commands.add_parser("history", help="the revisions, newest first")
    commands.add_parser("check", help="exit 1 when the database is behind or differs from the models")
    new = commands.add_parser("revision", help="write a new revision file in bot/storage/migrations/versions")
    new.add_argument("-m", "--message", required=True)
    new.add_argument("--autogenerate", action="store_true",
                     help="fill it in from the difference between the models and the database (at head)")
    down = commands.add_parser("downgrade", help="undo revisions down to REVISION (e.g. -1, 0001, base)")
    down.add_argument("revision")
    args = parser.parse_args(argv)
    if args.command is None:
        args.command, args.revision = "upgrade", "head"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.setLevel(logging.WARNING)  # the command prints what it did; Alembic logs each revision it runs

    if args.command == "history":
        command.history(alembic_config())
        return 0
    engine = None
    try:
        engine = helpline_engine(args.database_url, create=args.command in ("upgrade", "revision"))
        if args.command == "upgrade":
            before, after = upgrade(engine, args.revision)
            print(f"{shown(engine.url)}: " + (f"upgraded from {', '.join(before) or 'empty'} to {', '.join(after)}"
                                              if after != before else f"already at {', '.join(after)}"))
        elif args.command == "downgrade":
            before, after = downgrade(engine, args.revision)
            print(f"{shown(engine.url)}: downgraded from {', '.join(before)} to {', '.join(after) or 'empty'}")
        elif args.command == "current":
            print(f"database  {shown(engine.url)}\nrevision  {describe(engine)}")
        elif args.command == "check":
            with engine.connect() as connection:
                command.check(alembic_config(connection))
            print(f"{shown(engine.url)}: at head, and the models match it")
        elif args.command == "revision":
            with engine.connect() as connection:
                command.revision(alembic_config(connection), message=args.message, autogenerate=args.autogenerate,
                                 rev_id=next_revision_id())
            print("Review the new file before committing it: autogenerate misses renames and some type changes.")
    except (SchemaError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DatabaseError as exc:
        print(f"error: {exc} (--database-url or HELPLINE_DATABASE_URL)", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"error: {shown(engine.url) if engine is not None else 'the database'}: {first_line(exc)}",
              file=sys.stderr)
        return 2
    finally:
        if engine is not None:
            engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
