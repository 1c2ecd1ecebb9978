"""Deleted chats are remembered across servers (bot/channels/webchat.py ErasedConversations)."""
import asyncio
import socket
import uuid

from bot.channels.webchat import ErasedConversations
from tests.conftest import run_async
from tests.storage.test_lock_store import redis_or_skip


def test_a_deletion_on_one_server_is_seen_by_another():
    url = redis_or_skip()
    here, there = ErasedConversations(url), ErasedConversations(url)
    conversation = f"erased-test-{uuid.uuid4().hex}"

    async def scenario():
        before = await there.anywhere(conversation)
        await here.add(conversation)
        after = await there.anywhere(conversation)
        await here._redis.delete(f"helpline:erased:{conversation}")
        return before, after

    assert run_async(scenario()) == (False, True)


def test_without_redis_only_this_server_knows():
    here, there = ErasedConversations(None), ErasedConversations(None)
    run_async(here.add("gone"))
    assert run_async(here.anywhere("gone")) and not run_async(there.anywhere("gone"))


def test_redis_that_does_not_answer_lets_the_chat_start_in_time():
    """A Redis that accepts connections and never answers: the check gives up after its
    timeout (the chat starts; the health route reports Redis) instead of hanging."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        erased = ErasedConversations(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")

        async def scenario():
            return await asyncio.wait_for(erased.anywhere("some-conversation"), 6)

        assert run_async(scenario()) is False
    finally:
        silent.close()
