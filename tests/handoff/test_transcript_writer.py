"""Transcript messages are written in batches (bot/handoff/live.py TranscriptWriter)."""
import asyncio

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from bot.handoff.live import LiveHub
from bot.handoff.store import HandoffStore
from tests.conftest import run_async


class Silent:
    async def emit(self, *args, **kwargs):
        pass


@pytest.fixture
def store(tmp_path):
    return HandoffStore(f"sqlite:///{tmp_path / 'helpline.db'}")


def commits(store):
    counted = []
    event.listen(store.engine, "commit", lambda connection: counted.append(1))
    return counted


def test_messages_arriving_together_share_a_commit_and_keep_their_order(store):
    hub = LiveHub(store, Silent())
    counted = commits(store)

    async def many():
        return await asyncio.gather(*(hub.record(f"conv-{i % 5}", "visitor", f"message {i}") for i in range(60)))

    messages = run_async(many())
    assert [m.text for m in messages] == [f"message {i}" for i in range(60)]
    assert [m.id for m in messages] == sorted(m.id for m in messages), "rows keep the order they came in"
    assert [m.text for m in store.transcript("conv-3")] == [f"message {i}" for i in range(3, 60, 5)]
    assert len(counted) <= 2, f"{len(counted)} commits for 60 messages"


def test_a_message_alone_is_written_at_once(store):
    hub = LiveHub(store, Silent())
    counted = commits(store)
    message = run_async(hub.record("conv", "bot", "Hello", data={"quick_replies": [{"title": "A", "payload": "/a"}]}))
    assert message.id is not None and len(counted) == 1
    assert store.transcript("conv")[0].data == {"quick_replies": [{"title": "A", "payload": "/a"}]}


def test_a_bad_message_costs_only_itself(store):
    """A row the database refuses (here a role it does not allow) fails its own record()
    (logged, None), not the others written in the same batch."""
    hub = LiveHub(store, Silent())

    async def mixed():
        return await asyncio.gather(*(hub.record("conv", "hacker" if i == 3 else "visitor", f"m{i}")
                                      for i in range(8)))

    messages = run_async(mixed())
    assert messages[3] is None
    assert [m.text for m in store.transcript("conv")] == [f"m{i}" for i in range(8) if i != 3]


def test_a_database_outage_fails_the_batch_at_once(store, monkeypatch):
    """When the database itself fails, trying row by row would make every later message wait
    for one failure per row: the whole batch fails with one attempt."""
    hub = LiveHub(store, Silent())
    attempts = []

    def down(rows):
        attempts.append(len(rows))
        raise OperationalError("INSERT", {}, Exception("could not connect to server"))

    monkeypatch.setattr(store, "add_messages", down)

    async def several():
        return await asyncio.gather(*(hub.record("conv", "visitor", f"m{i}") for i in range(8)))

    assert run_async(several()) == [None] * 8
    assert attempts == [8]


def test_messages_waiting_behind_a_cancelled_write_are_not_left_waiting(store, monkeypatch):
    """The server stops while a batch is being written: the messages that arrived meanwhile
    get an error instead of waiting for ever."""
    hub = LiveHub(store, Silent())
    writing = None

    async def scenario():
        nonlocal writing
        started = asyncio.Event()
        original = hub.db

        async def slow_db(function, *args):
            started.set()
            await asyncio.sleep(10)
            return await original(function, *args)

        monkeypatch.setattr(hub, "db", slow_db)
        first = asyncio.ensure_future(hub._transcript.add("conv", "visitor", "first"))
        await started.wait()
        second = asyncio.ensure_future(hub._transcript.add("conv", "visitor", "second"))
        await asyncio.sleep(0)
        writing = hub._transcript._task
        writing.cancel()
        return await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 2)

    outcomes = run_async(scenario())
    assert all(isinstance(o, RuntimeError) for o in outcomes), outcomes
    assert writing is not None and hub._transcript._task is None
