"""Erasing one conversation at the visitor's request (bot/storage/erase.py ``erase_conversation`` and
the web chat channel's ``delete_conversation``), on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from rasa.core.lock_store import InMemoryLockStore, LockError
from rasa.core.tracker_store import AwaitableTrackerStore, FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels import webchat
from bot.channels.webchat import WebChatInput
from bot.handoff.store import HandoffStore, StaffMessage
from bot.storage.erase import erase_conversation
from bot.storage.engine import open_engine
from bot.config import Settings
from tests.privacy.conftest import add_transcript, conversation_rows, run, save_tracker, tracker_rows

NOTE = "spoke with Ana about her taper"


def busy_conversation(store: HandoffStore, tracker_url: str, conversation_id: str, staff) -> int:
    """A conversation a staff member has claimed, with every kind of row; the handoff's id."""
    now = datetime.now(timezone.utc)
    save_tracker(tracker_url, conversation_id, ["i want to talk to a person", "my number is 412-555-0134"], now)
    add_transcript(store, conversation_id, ["i want to talk to a person"], now)
    request = store.request_handoff(conversation_id, "visitor_request", message_text="talk to a person")
    store.claim(request.id, staff.id)
    store.audit(staff.id, "claimed", request.id)
    store.audit(staff.id, "note", request.id, note=NOTE)
    with store.session() as session:
        session.add(StaffMessage(handoff_id=request.id, staff_id=staff.id, text="Hi, I'm Dana"))
    store.add_callback(conversation_id, "412-555-0134", "after 5pm", consent=True)
    return request.id


def test_one_conversation_is_erased_open_handoff_and_all_and_no_other(urls, store):
    tracker_url, database_url = urls
    dana = store.add_staff("dana", "Dana", "not-a-real-hash")
    mine = busy_conversation(store, tracker_url, "mine", dana)
    busy_conversation(store, tracker_url, "theirs", dana)
    theirs_before = (tracker_rows(tracker_url, "theirs"), conversation_rows(store, "theirs"))
    assert theirs_before[0] and all(theirs_before[1].values())

    tracker = open_engine(tracker_url, synchronous="NORMAL")
    try:
        counts = erase_conversation("mine", tracker, store.engine)
    finally:
        tracker.dispose()

    assert counts == {"events": 9, "transcript_messages": 1, "handoff_requests": 1, "staff_messages": 1,
                      "callback_requests": 1, "audit_log": 2}
    assert tracker_rows(tracker_url, "mine") == []
    assert conversation_rows(store, "mine") == {"transcript": 0, "handoffs": 0, "callbacks": 0, "audit": 0}
    assert store.get_handoff(mine) is None and store.open_handoff("mine") is None
    assert (tracker_rows(tracker_url, "theirs"), conversation_rows(store, "theirs")) == theirs_before
    entries = store.audit_entries()
    assert not any(NOTE in str(e.details) for e in entries if e.handoff_id is None)
    assert [e.details for e in entries if e.action == "erased"] == [{"by": "visitor", "handoffs": 1}]
    assert len([e for e in entries if e.handoff_id is None and e.action in ("claimed", "note")]) == 2


def test_a_conversation_with_nothing_stored_erases_nothing(urls, store):
    tracker_url, _ = urls
    save_tracker(tracker_url, "someone", ["hello"], datetime.now(timezone.utc))
    tracker = open_engine(tracker_url)
    try:
        assert sum(erase_conversation("nobody", tracker, store.engine).values()) == 0
    finally:
        tracker.dispose()
    assert len(tracker_rows(tracker_url, "someone")) == 5
    with pytest.raises(ValueError):
        erase_conversation("", None, store.engine)


# --------------------------------------------------------------------------- the web chat channel

class Recorder:
    def __init__(self):
        self.calls = []

    async def __call__(self, *args, **kwargs):
        self.calls.append(args)


def channel_for(urls, store, process=None, lock_store=None):
    """The web chat channel with the tracker store wrapped as the Rasa server wraps it; a
    message is processed by ``process`` (Rasa's processor) inside the lock store's lock."""
    tracker_url, database_url = urls
    settings = Settings(database_url, None, "mon-sun 00:00-24:00", "America/New_York", secret_key="test-key")
    channel = WebChatInput(settings=settings, store=store)
    sql = SQLTrackerStore(Domain.empty(), host=tracker_url)
    agent = SimpleNamespace(tracker_store=FailSafeTrackerStore(AwaitableTrackerStore(sql)), is_ready=lambda: True,
                            lock_store=lock_store or InMemoryLockStore(),
                            processor=SimpleNamespace(handle_message=process or not_through_rasa))
    channel.app = SimpleNamespace(ctx=SimpleNamespace(agent=agent))
    channel.hub.queue_changed = Recorder()
    return channel, sql


async def not_through_rasa(message):
    raise AssertionError(f"{message.text!r} went to Rasa without the lock store's lock")


def answering_slowly(sql, order):
    """Rasa's processor for one message: load, answer (0.5 s), save."""
    async def process(message):
        order.append("answering")
        await asyncio.sleep(0.5)
        tracker = DialogueStateTracker.from_events(message.sender_id, [
            ActionExecuted("action_listen"), UserUttered(message.text, {"name": "faq", "confidence": 1.0})])
        await sql.save(tracker)
        order.append("saved")
    return process


def test_the_channel_erases_the_conversation_and_tells_the_console(urls, store):
    tracker_url, _ = urls
    dana = store.add_staff("dana", "Dana", "not-a-real-hash")
    busy_conversation(store, tracker_url, "mine", dana)
    answered = []

    async def process(message):
        answered.append(message.text)

    channel, sql = channel_for(urls, store, process)

    async def scenario():
        counts = await channel.delete_conversation("mine")
        # a message still on its way for the deleted conversation is not answered nor kept
        await channel.handle("mine", "hello again", {}, not_through_rasa)
        return counts

    try:
        counts = run(scenario())
    finally:
        sql.engine.dispose()
    assert counts["events"] == 9 and counts["handoff_requests"] == 1
    assert len(channel.hub.queue_changed.calls) == 1  # the claimed conversation left the console's queue
    assert answered == []
    assert tracker_rows(tracker_url, "mine") == []
    assert conversation_rows(store, "mine") == {"transcript": 0, "handoffs": 0, "callbacks": 0, "audit": 0}


def two_servers(urls, store, process_on_b):
    """Two servers' channels sharing what several servers share: the lock store and the
    record of deleted conversations (both in Redis in production)."""
    lock_store = InMemoryLockStore()
    a, sql_a = channel_for(urls, store, lock_store=lock_store)
    b, sql_b = channel_for(urls, store, process_on_b, lock_store=lock_store)
    b._erased = a._erased
    return a, b, (sql_a, sql_b)


@pytest.mark.parametrize("servers", [1, 2])
def test_a_deletion_waits_for_the_message_being_answered(urls, store, servers):
    """Rasa saves a tracker it holds in full when its rows are gone: deleting in the middle
    of an answer would bring the conversation back. The same when the chat is open on two
    servers, answered on one and deleted on the other."""
    tracker_url, _ = urls
    order = []
    sql = SQLTrackerStore(Domain.empty(), host=tracker_url)
    if servers == 1:
        deleting_on, stores = channel_for(urls, store, answering_slowly(sql, order))
        answering_on, stores = deleting_on, [stores]
    else:
        deleting_on, answering_on, stores = two_servers(urls, store, answering_slowly(sql, order))

    async def scenario():
        answering = asyncio.create_task(answering_on.handle("racing", "how long is detox", {}, not_through_rasa))
        while "answering" not in order:
            await asyncio.sleep(0.01)
        deleting = asyncio.create_task(deleting_on.delete_conversation("racing"))
        await asyncio.sleep(0.1)
        order.append("delete started")
        await asyncio.gather(answering, deleting)
        order.append("deleted")

    try:
        run(scenario())
    finally:
        for engine in (sql.engine, *(s.engine for s in stores)):
            engine.dispose()
    assert order == ["answering", "delete started", "saved", "deleted"]
    assert tracker_rows(tracker_url, "racing") == []
    assert store.transcript("racing") == []
    assert deleting_on.hub.queue_changed.calls == []  # no handoff: nothing for the console


def test_a_message_on_one_server_waiting_for_a_deletion_on_another_is_not_answered(urls, store, monkeypatch):
    tracker_url, _ = urls
    answered = []

    async def process(message):
        answered.append(message.text)

    a, b, stores = two_servers(urls, store, process)
    save_tracker(tracker_url, "two-tabs", ["is klonopin addictive"], datetime.now(timezone.utc))
    erasing = threading.Event()
    erase = webchat.erase_conversation

    def slow_erase(*args):  # runs in the database thread
        erasing.set()
        time.sleep(0.5)
        return erase(*args)

    monkeypatch.setattr(webchat, "erase_conversation", slow_erase)

    async def scenario():
        deleting = asyncio.create_task(a.delete_conversation("two-tabs"))
        await asyncio.to_thread(erasing.wait, 10)  # server A is erasing the rows
        await b.handle("two-tabs", "are you still there", {}, not_through_rasa)
        await deleting

    try:
        run(scenario())
    finally:
        for s in stores:
            s.engine.dispose()
    assert answered == []
    assert tracker_rows(tracker_url, "two-tabs") == []
    assert store.transcript("two-tabs") == []


def test_when_the_lock_store_fails_the_message_is_answered_without_the_dialogue(urls, store):
    """Redis down: no second try through Rasa (which would wait for Redis again); the channel's
    answer without the dialogue (tests/e2e/test_faults.py checks what the visitor gets)."""
    class BrokenLockStore(InMemoryLockStore):
        def lock(self, *args, **kwargs):
            raise LockError("Redis does not answer")

    channel, sql = channel_for(urls, store, lock_store=BrokenLockStore())
    channel.answer_in_outage = Recorder()
    through_rasa = Recorder()
    try:
        run(channel.handle("no-redis", "is klonopin addictive", {}, through_rasa))
        run(channel.delete_conversation("no-redis"))  # a deletion goes ahead
    finally:
        sql.engine.dispose()
    assert through_rasa.calls == []
    assert channel.answer_in_outage.calls == [("no-redis", "is klonopin addictive", None)]
    assert store.transcript("no-redis") == []


def test_a_lock_that_cannot_be_released_fails_neither_the_answer_nor_the_deletion(urls, store):
    """Redis goes away while the lock is held: the lock expires by itself; the visitor is
    answered and told the chat is deleted."""
    class ReleaseFails(InMemoryLockStore):
        @asynccontextmanager
        async def lock(self, *args, **kwargs):
            yield None
            raise LockError("Redis went away")

    answered = []

    async def process(message):
        answered.append(message.text)

    channel, sql = channel_for(urls, store, process, lock_store=ReleaseFails())
    channel.sio.emit = Recorder()
    try:
        run(channel.handle("lock-lost", "is klonopin addictive", {}, not_through_rasa))
        counts = run(channel.delete_conversation("lock-lost"))
    finally:
        sql.engine.dispose()
    assert answered == ["is klonopin addictive"]
    assert counts["transcript_messages"] == 1
    assert ("chat_deleted", {}) in channel.sio.emit.calls


def test_a_tracker_kept_in_memory_is_forgotten_too(urls, store):
    """When the SQL store failed, Rasa keeps trackers in memory (FailSafeTrackerStore)."""
    channel, sql = channel_for(urls, store)
    failsafe = channel.agent.tracker_store
    failsafe.fallback_tracker_store.store["mine"] = "{}"
    failsafe.fallback_tracker_store.store["theirs"] = "{}"
    try:
        run(channel.delete_conversation("mine"))
    finally:
        sql.engine.dispose()
    assert set(failsafe.fallback_tracker_store.store) == {"theirs"}
