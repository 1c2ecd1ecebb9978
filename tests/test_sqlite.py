"""SQLite for the embedded default: WAL, pooled connections, conversations kept (bot/sqlite.py)."""
import asyncio
import sqlite3

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.pool import QueuePool

from bot.handoff.store import HandoffStore
from bot.tracker_store import HelplineTrackerStore


def journal_mode(path):
    with sqlite3.connect(path) as connection:
        return connection.execute("pragma journal_mode").fetchone()[0]


def test_tracker_store_on_sqlite_is_pooled_in_wal_mode_and_keeps_the_conversation(tmp_path):
    path = tmp_path / "tracker.db"
    store = HelplineTrackerStore(domain=Domain.empty(), host=f"sqlite:///{path}")
    assert isinstance(store.engine.pool, QueuePool)
    tracker = DialogueStateTracker.from_events("visitor-1", [
        ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet", "confidence": 0.9}),
        BotUttered("Hello"), ActionExecuted("action_listen")])
    asyncio.run(store.save(tracker))
    assert journal_mode(path) == "wal"
    again = asyncio.run(HelplineTrackerStore(domain=Domain.empty(), host=f"sqlite:///{path}").retrieve("visitor-1"))
    assert [e.text for e in again.events if isinstance(e, (UserUttered, BotUttered))] == ["hi", "Hello"]


def test_handoff_store_on_sqlite_is_pooled_in_wal_mode(tmp_path):
    path = tmp_path / "helpline.db"
    store = HandoffStore(f"sqlite:///{path}")
    store.request_handoff("visitor-1", reason="asked for a person")
    assert isinstance(store.engine.pool, QueuePool)
    assert journal_mode(path) == "wal"
    assert HandoffStore(f"sqlite:///{path}").open_handoff("visitor-1") is not None
