"""Rasa's SQL tracker store, with pooled connections and WAL on SQLite.

Rasa's own ``SQLTrackerStore`` opens SQLite with SQLAlchemy 1.4's default pool for files,
which is no pool: every load and save of a conversation opens the database file again,
and in WAL mode closing the last connection also checkpoints the log. This store keeps a
few connections open in WAL mode with synchronous=NORMAL (bot/storage/sqlite.py). On PostgreSQL it is Rasa's
store with its pool's connections checked before use (``pool_pre_ping``).

Costs of Rasa's store per message taken out (measured with ``make bench`` and py-spy): the
query counting a conversation's stored events on every save, the walk over every subclass of
``Event`` for each event read back (bot/rasa_patches/event_classes.py), and the ORM: the latest
session is read and new events
are written with SQLAlchemy Core statements built once (the ORM's query building and unit of
work were two thirds of the time a message spent in the store). The rows are the ones Rasa's
store reads and writes; ``retrieve_full_tracker`` is Rasa's own.

endpoints.yml:  tracker_store: {type: bot.storage.tracker_store.HelplineTrackerStore, url: ...}
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.shared.core.trackers import DialogueStateTracker

from bot.storage.engine import database_engine
from bot.storage.sqlite import is_sqlite_file


STORED_EVENTS = "_helpline_stored_events"  # on a tracker: how many of its events are in the database
EVENTS = SQLTrackerStore.SQLEvent.__table__


def _latest_session_statement() -> sa.sql.Select:
    """The data of a conversation's events from its latest ``SessionStarted`` on (all of them
    when it has none), in order: the query of Rasa's ``SQLTrackerStore.retrieve``."""
    sender = sa.bindparam("sender_id")
    session_start = (sa.select(sa.func.max(EVENTS.c.timestamp))
                     .where(EVENTS.c.sender_id == sender, EVENTS.c.type_name == SessionStarted.type_name)
                     .scalar_subquery())
    return (sa.select(EVENTS.c.data)
            .where(EVENTS.c.sender_id == sender,
                   sa.or_(EVENTS.c.timestamp >= session_start, session_start.is_(None)))
            .order_by(EVENTS.c.id))


LATEST_SESSION = _latest_session_statement()
COUNT_LATEST_SESSION = sa.select(sa.func.count()).select_from(LATEST_SESSION.subquery())
INSERT_EVENTS = EVENTS.insert()


def event_row(sender_id: str, event: Event) -> Dict[str, Any]:
    """The row Rasa's ``SQLTrackerStore.save`` writes for an event."""
    data = event.as_dict()
    return {"sender_id": sender_id, "type_name": event.type_name, "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"), "data": json.dumps(data)}


class HelplineTrackerStore(SQLTrackerStore):
    engine: sa.engine.Engine

    def __init__(self, domain: Optional[Domain] = None, host: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(domain=domain, host=host, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        # on SQLite, conversation history: a power cut may lose the last commits (bot/storage/sqlite.py);
        # elsewhere a pooled connection is tested before use, so the first messages after a database
        # restart do not fail on connections the restart closed; Rasa's pool size and schema settings
        self.engine = database_engine(url, synchronous="NORMAL", future=False, **create_engine_kwargs(url))
        if url.get_backend_name() == "sqlite" and not is_sqlite_file(url):
            self.Base.metadata.create_all(self.engine)  # in memory (tests): Rasa made its table in another
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        if not self.domain:  # as Rasa's store: no domain, no tracker
            return await super().retrieve(sender_id)
        with self.engine.connect() as connection:
            rows = connection.execute(LATEST_SESSION, {"sender_id": sender_id}).scalars().all()
        if not rows:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, [json.loads(row) for row in rows], self.domain.slots)
        setattr(tracker, STORED_EVENTS, len(tracker.events))
        return tracker

    # Rasa finds the events to insert on save by counting, with a query, the conversation's
    # stored events, then skipping that many of the tracker's. A tracker this store loaded
    # or saved carries that number itself, so the query (about a sixth of the time Rasa
    # spends on a message) is not needed. Retrieve and save of one message happen under
    # the conversation's lock, so no other server adds events in between.
    def _stored_events(self, tracker: DialogueStateTracker) -> Optional[int]:
        stored = getattr(tracker, STORED_EVENTS, None)
        if stored is None or tracker.events.maxlen is not None or stored > len(tracker.events):
            return None
        return stored

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        with self.engine.begin() as connection:
            stored = self._stored_events(tracker)
            if stored is None:  # a tracker this store did not load: counted, as Rasa does
                stored = connection.execute(COUNT_LATEST_SESSION, {"sender_id": tracker.sender_id}).scalar_one()
            rows = [event_row(tracker.sender_id, event)
                    for event in itertools.islice(tracker.events, stored, len(tracker.events))]
            if rows:
                connection.execute(INSERT_EVENTS, rows)
        setattr(tracker, STORED_EVENTS, len(tracker.events))


def store_layers(agent: Any) -> List[Any]:
    """The agent's tracker store and Rasa's wrappers around it (FailSafeTrackerStore,
    AwaitableTrackerStore), outermost first; empty without an agent or a store."""
    layers: List[Any] = []
    store = getattr(agent, "tracker_store", None)
    while store is not None:
        layers.append(store)
        store = getattr(store, "_tracker_store", None)
    return layers


def innermost_store(agent: Any) -> Any:
    """The agent's tracker store without Rasa's wrappers, or None."""
    layers = store_layers(agent)
    return layers[-1] if layers else None


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
