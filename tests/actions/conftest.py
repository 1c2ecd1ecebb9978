"""Trackers built from real events, and the actions' services pointed at a temporary database."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from bot.handoff.hours import StaffHours
from bot.handoff.store import HandoffStore
from bot.config import Settings


def user_uttered(text: str, intent: str, confidence: float = 1.0, **extra: Any) -> Dict[str, Any]:
    parse_data = {"text": text, "intent": {"name": intent, "confidence": confidence},
                  "entities": [], "intent_ranking": [{"name": intent, "confidence": confidence}], **extra}
    return {"event": "user", "timestamp": 0.0, "text": text, "parse_data": parse_data}


def tracker(events: List[Dict[str, Any]], slots: Optional[Dict[str, Any]] = None,
            active_loop: Optional[str] = None, sender_id: str = "visitor-1") -> Tracker:
    latest = next((e["parse_data"] for e in reversed(events) if e["event"] == "user"), {})
    return Tracker(sender_id, slots or {}, latest, events, False, None,
                   {"name": active_loop} if active_loop else {}, "action_listen")


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def configure(tmp_path, monkeypatch):
    """Point the actions at a temporary database with chosen staff hours and helpline number."""
    stores: List[HandoffStore] = []

    def apply(open_now: bool = True, phone: Optional[str] = "1-800-555-0100", broken_store: bool = False):
        settings = Settings(f"sqlite:///{tmp_path / 'helpline.db'}", phone, "mon-fri 09:00-17:00", "America/New_York")
        hours = StaffHours.parse(settings.staff_hours, settings.timezone)
        monkeypatch.setattr(hours.__class__, "is_open", lambda self, now=None: open_now)
        store = HandoffStore(settings.database_url)
        stores.append(store)
        if broken_store:
            def fail(*args, **kwargs):
                raise RuntimeError("database down")
            monkeypatch.setattr(store, "request_handoff", fail)
            monkeypatch.setattr(store, "add_callback", fail)
        monkeypatch.setattr(services, "settings", lambda: settings)
        monkeypatch.setattr(services, "store", lambda: store)
        monkeypatch.setattr(services, "staff_hours", lambda: hours)
        return store

    yield apply
    for store in stores:
        store.engine.dispose()
