"""Rasa's SQL tracker store, with pooled connections and WAL on SQLite.

Rasa's own ``SQLTrackerStore`` opens SQLite with SQLAlchemy 1.4's default pool for files,
which is no pool: every load and save of a conversation opens the database file again,
and in WAL mode closing the last connection also checkpoints the log. This store keeps a
few connections open and uses the settings of bot/sqlite.py. On PostgreSQL it is Rasa's
store unchanged (Rasa pools those connections itself).

endpoints.yml:  tracker_store: {type: bot.tracker_store.HelplineTrackerStore, url: ...}
"""
from __future__ import annotations

from typing import Any, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy.pool import QueuePool

from bot.sqlite import use_wal_for_sqlite


class HelplineTrackerStore(SQLTrackerStore):
    def __init__(self, domain: Optional[Domain] = None, host: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(domain=domain, host=host, **kwargs)
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            use_wal_for_sqlite()
            self.engine.dispose()
            self.engine = sa.create_engine(url, poolclass=QueuePool, pool_size=4, max_overflow=8,
                                           connect_args={"check_same_thread": False})
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
