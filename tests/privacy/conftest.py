"""Conversations written the way the running assistant writes them, for the privacy tests.

Tracker events are saved with Rasa's own ``SQLTrackerStore`` (so the ``events`` table is
exactly Rasa's); handoffs, transcripts and callbacks with the project's ``HandoffStore``,
then dated back. Each test runs on SQLite and on PostgreSQL (``database_url``).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Dict, List

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import column, create_engine, func, inspect, select, table, update

from bot.handoff.store import AuditEntry, CallbackRequest, HandoffRequest, HandoffStore, TranscriptMessage
from tests.conftest import run_async

NOW = datetime(2025, 3, 31, 12, 0, tzinfo=timezone.utc)
EVENTS = table("events", column("sender_id"), column("data"))
PROJECT_TABLES = ["transcript_messages", "handoff_requests", "staff_messages", "callback_requests", "audit_log",
                  "staff_sessions", "staff_users"]


run = run_async


def days_ago(days: float, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


def save_tracker(url: str, sender_id: str, texts: List[str], when: datetime) -> None:
    """A conversation of visitor messages and bot replies, one minute apart from ``when`` on."""
    events = [ActionExecuted("action_listen", timestamp=when.timestamp())]
    for i, text in enumerate(texts):
        at = when.timestamp() + 60 * i
        events += [UserUttered(text, intent={"name": "faq", "confidence": 0.9},
                               parse_data={"text": text, "intent": {"name": "faq", "confidence": 0.9},
                                           "entities": []}, timestamp=at),
                   ActionExecuted("utter_faq", timestamp=at + 1),
                   BotUttered(f"an answer to {text}", timestamp=at + 2),
                   ActionExecuted("action_listen", timestamp=at + 3)]
    store = SQLTrackerStore(Domain.empty(), host=url)
    try:
        run(store.save(DialogueStateTracker.from_events(sender_id, events)))
    finally:
        store.engine.dispose()


def backdate(store: HandoffStore, model, row_id: int, when: datetime, *columns: str) -> None:
    with store.engine.begin() as connection:
        connection.execute(update(model.__table__).where(model.__table__.c.id == row_id)
                           .values(**{name: when for name in columns or ("created_at",)}))


def add_transcript(store: HandoffStore, conversation_id: str, texts: List[str], when: datetime) -> None:
    for text in texts:
        message = store.add_message(conversation_id, "visitor", text)
        backdate(store, TranscriptMessage, message.id, when)


def tracker_rows(url: str, sender_id: str) -> List[str]:
    """The JSON of every tracker event the conversation has in Rasa's events table."""
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("events"):
                return []
            return list(connection.execute(select(EVENTS.c.data).where(EVENTS.c.sender_id == sender_id)).scalars())
    finally:
        engine.dispose()


def row_counts(url: str) -> Dict[str, int]:
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            names = [n for n in ["events", *PROJECT_TABLES] if inspect(connection).has_table(n)]
            return {n: connection.execute(select(func.count()).select_from(table(n))).scalar_one() for n in names}
    finally:
        engine.dispose()


def conversation_rows(store: HandoffStore, conversation_id: str) -> Dict[str, int]:
    """Rows in the project's tables that belong to a conversation."""
    with store.engine.connect() as connection:
        handoff_ids = list(connection.execute(select(HandoffRequest.id).where(
            HandoffRequest.conversation_id == conversation_id)).scalars())
        return {
            "transcript": connection.execute(select(func.count()).select_from(TranscriptMessage).where(
                TranscriptMessage.conversation_id == conversation_id)).scalar_one(),
            "handoffs": len(handoff_ids),
            "callbacks": connection.execute(select(func.count()).select_from(CallbackRequest).where(
                CallbackRequest.conversation_id == conversation_id)).scalar_one(),
            "audit": connection.execute(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.handoff_id.in_(handoff_ids))).scalar_one() if handoff_ids else 0,
        }


@pytest.fixture
def urls(database_url, tmp_path):
    """(tracker store URL, helpline database URL): two SQLite files, or one PostgreSQL schema for both."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'tracker.db'}", database_url
    return database_url, database_url


@pytest.fixture
def store(urls):
    store = HandoffStore(urls[1])
    yield store
    store.engine.dispose()
