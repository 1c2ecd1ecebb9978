"""Transcript messages are written in batches (bot/handoff/live.py TranscriptWriter)."""
import asyncio

import pytest
from sqlalchemy import event

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
    assert len(counted) < 10, f"{len(counted)} commits for 60 messages"


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
