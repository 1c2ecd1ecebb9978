"""Alembic's environment for the helpline database.

bot.storage.migrate runs Alembic with a connection of its own, already in a transaction and
holding the migration lock (config.attributes["connection"]): the migrations run in
that transaction and bot.storage.migrate commits.
"""
from __future__ import annotations

from alembic import context

from bot.handoff.store import Base

config = context.config


def ours(name, type_, parent_names) -> bool:
    """Autogenerate looks only at the project's tables: the database may also hold others
    (Rasa's tracker store on the same PostgreSQL database), which it must never drop."""
    return type_ != "table" or name in Base.metadata.tables


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=ours,
        render_as_batch=True,  # SQLite: table changes by copy-and-move (batch mode)
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise SystemExit("run the migrations with `python -m bot.storage.migrate` (make migrate), "
                     "not Alembic's command line")
run(connection)
