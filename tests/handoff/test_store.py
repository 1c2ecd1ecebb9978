"""The handoff store on SQLite (default) and PostgreSQL (production)."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect

from bot.handoff.store import HandoffStore, Status


@pytest.fixture
def store(database_url):
    store = HandoffStore(database_url)
    yield store
    store.engine.dispose()


def test_tables_for_the_staff_console_exist(store):
    tables = set(inspect(store.engine).get_table_names())
    assert {"handoff_requests", "staff_users", "staff_messages", "audit_log", "callback_requests"} <= tables
    columns = {c["name"] for c in inspect(store.engine).get_columns("handoff_requests")}
    assert {"conversation_id", "reason", "tier", "priority", "trigger_phrases", "created_at", "status",
            "claimed_by", "claimed_at", "resolved_at", "resolution_note"} <= columns


def test_a_crisis_handoff_is_recorded_with_its_details(store):
    request = store.request_handoff("conv-1", "crisis", tier="suicide", triggers=["kms"], message_text="kms")
    [queued] = store.queue()
    assert queued.id == request.id
    assert (queued.conversation_id, queued.reason, queued.tier) == ("conv-1", "crisis", "suicide")
    assert queued.trigger_phrases == ["kms"]
    assert queued.status == Status.waiting.value
    assert queued.priority == 1
    assert queued.created_at is not None


def test_queue_is_ordered_by_tier_then_waiting_time(store):
    store.request_handoff("visitor", "visitor_request")
    store.request_handoff("medical", "crisis", tier="medical")
    store.request_handoff("emergency-late", "crisis", tier="emergency")
    store.request_handoff("suicide", "crisis", tier="suicide")
    order = [r.conversation_id for r in store.queue()]
    assert order == ["emergency-late", "suicide", "medical", "visitor"]


def test_same_tier_orders_by_waiting_time_not_by_id(store):
    first = store.request_handoff("a", "crisis", tier="suicide")
    second = store.request_handoff("b", "crisis", tier="suicide")
    with store.session() as session:  # the later row has waited longer
        session.get(type(second), second.id).created_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert [r.id for r in store.queue()] == [second.id, first.id]


def test_a_second_request_raises_the_open_one_instead_of_duplicating(store):
    store.request_handoff("conv", "visitor_request", message_text="talk to a person")
    store.request_handoff("conv", "crisis", tier="emergency", triggers=["not breathing"], message_text="not breathing")
    store.request_handoff("conv", "crisis", tier="medical", triggers=["seizure"], message_text="had a seizure")
    [request] = store.queue()
    assert request.tier == "emergency" and request.priority == 0  # never lowered
    assert (request.reason, request.message_text) == ("crisis", "not breathing")  # what made it urgent
    assert request.trigger_phrases == ["not breathing", "seizure"]


def test_bad_input_is_refused(store):
    with pytest.raises(ValueError, match="unknown tier"):
        store.request_handoff("conv", "crisis", tier="urgent")
    with pytest.raises(ValueError, match="conversation_id"):
        store.request_handoff("", "visitor_request")


def test_callback_links_only_to_an_open_request(store):
    old = store.request_handoff("conv", "visitor_request")
    with store.session() as session:
        session.get(type(old), old.id).status = Status.resolved.value
    assert store.add_callback("conv", "412-555-0134", "mornings", consent=True).handoff_id is None


def test_callback_needs_consent_and_links_to_the_handoff(store):
    request = store.request_handoff("conv", "visitor_request")
    with pytest.raises(ValueError, match="consent"):
        store.add_callback("conv", "412-555-0134", "mornings", consent=False)
    callback = store.add_callback("conv", "412-555-0134", "mornings", consent=True)
    [saved] = store.callbacks()
    assert saved.id == callback.id and saved.handoff_id == request.id
    assert (saved.phone, saved.best_time, saved.consent, saved.status) == ("412-555-0134", "mornings", True, "pending")


def test_data_survives_a_new_store_on_the_same_database(database_url):
    HandoffStore(database_url).request_handoff("conv", "crisis", tier="emergency")
    assert [r.conversation_id for r in HandoffStore(database_url).queue()] == ["conv"]
