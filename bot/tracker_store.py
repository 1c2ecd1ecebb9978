"""Rasa's SQL tracker store, with pooled connections and WAL on SQLite.

Rasa's own ``SQLTrackerStore`` opens SQLite with SQLAlchemy 1.4's default pool for files,
which is no pool: every load and save of a conversation opens the database file again,
and in WAL mode closing the last connection also checkpoints the log. This store keeps a
few connections open in WAL mode with synchronous=NORMAL (bot/sqlite.py). On PostgreSQL it is Rasa's
store with its pool's connections checked before use (``pool_pre_ping``).

endpoints.yml:  tracker_store: {type: bot.tracker_store.HelplineTrackerStore, url: ...}
"""
from __future__ import annotations

from typing import Any, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain

from bot.sqlite import is_sqlite_file, sqlite_engine


class HelplineTrackerStore(SQLTrackerStore):
    def __init__(self, domain: Optional[Domain] = None, host: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(domain=domain, host=host, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        if is_sqlite_file(url):
            # conversation history: a power cut may lose the last commits (bot/sqlite.py)
            self.engine = sqlite_engine(url, synchronous="NORMAL")
        else:
            # a pooled connection is tested before use, so the first messages after a database
            # restart do not fail on connections the restart closed
            self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)


def innermost_store(agent: Any) -> Any:
    """The agent's tracker store without Rasa's wrappers (FailSafeTrackerStore, AwaitableTrackerStore)."""
    store = getattr(agent, "tracker_store", None)
    while getattr(store, "_tracker_store", None) is not None:
        store = store._tracker_store
    return store


def persistence_problem(agent: Any) -> Optional[str]:
    """Why conversations would be lost on a restart, or None when they are kept in SQL.

    Rasa falls back to keeping conversations in memory, logging one warning, when the
    configured store cannot be imported or created; the health route reports it.
    """
    store = innermost_store(agent)
    if isinstance(store, SQLTrackerStore):
        return None
    kind = type(store).__name__ if store is not None else "no tracker store"
    return f"conversations are kept by {kind}, not in the SQL database: they are lost on a restart (see endpoints.yml)"
