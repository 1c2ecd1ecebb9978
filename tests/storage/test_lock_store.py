"""The lock store shared by several Rasa servers (bot/storage/lock_store.py), on the real Redis.

Two stores stand for two servers. The race is made to happen every time: the first
server is stopped between reading the lock and writing it back while the second server
takes its own ticket.
"""
from __future__ import annotations

import asyncio
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from rasa.core.lock import TicketLock
from rasa.core.lock_store import RedisLockStore

from bot.storage.lock_store import HelplineRedisLockStore
from tests.conftest import run_async

REDIS_URL = os.environ.get("HELPLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_or_skip(url: str = REDIS_URL) -> str:
    """The Redis URL, or skip with the reason; under CI=true a missing server fails."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return url
    except Exception as exc:
        reason = f"Redis not reachable at {url}: {exc.__class__.__name__}: {exc}".splitlines()[0]
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI must run the Redis tests)")
        pytest.skip(reason)


@pytest.fixture
def prefix():
    url = redis_or_skip()
    prefix = f"test{uuid.uuid4().hex}"
    yield prefix
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)


def ours(prefix: str) -> HelplineRedisLockStore:
    return HelplineRedisLockStore(url=REDIS_URL, key_prefix=f"{prefix}:lock:")


def rasas(prefix: str) -> RedisLockStore:
    host, rest = REDIS_URL.split("//", 1)[1].split(":", 1)
    port, db = rest.split("/")
    return RedisLockStore(host=host, port=int(port), db=int(db), key_prefix=prefix)


def interleaved_tickets(first, second, monkeypatch):
    """`first` takes a ticket but is held after reading the lock while `second` takes one."""
    read, go_on = threading.Event(), threading.Event()
    original = TicketLock.issue_ticket
    main = threading.current_thread()

    def issue_ticket(self, lifetime):
        if threading.current_thread() is not main and not read.is_set():
            read.set()
            assert go_on.wait(10)
        return original(self, lifetime)

    monkeypatch.setattr(TicketLock, "issue_ticket", issue_ticket)
    with ThreadPoolExecutor(max_workers=1) as thread:
        first_ticket = thread.submit(first.issue_ticket, "visitor")
        assert read.wait(10)
        second_ticket = second.issue_ticket("visitor")
        go_on.set()
        return first_ticket.result(), second_ticket


def test_rasas_redis_lock_store_gives_two_servers_the_same_ticket(prefix, monkeypatch):
    """The race exists: both servers would process the conversation at once."""
    a, b = rasas(prefix), rasas(prefix)
    tickets = interleaved_tickets(a, b, monkeypatch)
    assert tickets == (0, 0)
    assert len(a.get_lock("visitor").tickets) == 1  # one ticket was overwritten


def test_two_servers_get_different_tickets_in_order(prefix, monkeypatch):
    a, b = ours(prefix), ours(prefix)
    first, second = interleaved_tickets(a, b, monkeypatch)
    assert sorted([first, second]) == [0, 1]
    assert [t.number for t in a.get_lock("visitor").tickets] == [0, 1]


def test_many_servers_at_once_lose_no_ticket(prefix):
    stores = [ours(prefix) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        tickets = list(pool.map(lambda i: stores[i % 8].issue_ticket("busy"), range(200)))
    assert sorted(tickets) == list(range(200))
    assert len(stores[0].get_lock("busy").tickets) == 200


def cleanup_while_another_queues(first, second, monkeypatch):
    """`first` finishes its message but is held after reading the lock while `second` queues."""
    mine = first.issue_ticket("visitor")
    read, go_on = threading.Event(), threading.Event()
    original = TicketLock.remove_ticket_for
    main = threading.current_thread()

    def remove_ticket_for(self, number):
        original(self, number)
        if threading.current_thread() is not main and not read.is_set():
            read.set()
            assert go_on.wait(10)

    monkeypatch.setattr(TicketLock, "remove_ticket_for", remove_ticket_for)
    with ThreadPoolExecutor(max_workers=1) as thread:
        done = thread.submit(first.cleanup, "visitor", mine)
        assert read.wait(10)
        theirs = second.issue_ticket("visitor")
        go_on.set()
        done.result()
    return theirs, second.get_lock("visitor")


def test_rasas_redis_lock_store_drops_a_ticket_queued_during_cleanup(prefix, monkeypatch):
    theirs, lock = cleanup_while_another_queues(rasas(prefix), rasas(prefix), monkeypatch)
    assert lock is None  # the second server's message can no longer get the lock (LockError)


def test_cleanup_keeps_a_ticket_queued_in_between(prefix, monkeypatch):
    theirs, lock = cleanup_while_another_queues(ours(prefix), ours(prefix), monkeypatch)
    assert lock is not None and [t.number for t in lock.tickets] == [theirs]
    ours(prefix).cleanup("visitor", theirs)
    assert ours(prefix).get_lock("visitor") is None  # the last one out deletes the lock


def test_messages_of_one_conversation_take_turns_across_servers(prefix):
    """Through Rasa's lock() API, as the agent uses it: no two holders at once, first come first served."""
    a, b = ours(prefix), ours(prefix)
    order, holding = [], []

    async def message(store, name, delay):
        await asyncio.sleep(delay)
        async with store.lock("visitor"):
            holding.append(name)
            assert len(holding) == 1, holding
            order.append(name)
            await asyncio.sleep(0.1)
            holding.remove(name)

    async def scenario():
        await asyncio.gather(*(message(a if i % 2 else b, i, i * 0.01) for i in range(6)))

    run_async(scenario())
    assert order == list(range(6))
    assert a.get_lock("visitor") is None


@pytest.mark.parametrize("url", ["", REDIS_URL])
def test_endpoints_yml_gives_rasa_the_lock_store(url, monkeypatch):
    """No Redis URL: Rasa's in-memory lock store (one server); a URL: the shared one."""
    from rasa.core.lock_store import InMemoryLockStore, LockStore
    from rasa.utils.endpoints import read_endpoint_config

    from bot import PROJECT_ROOT

    if url:
        redis_or_skip()
    monkeypatch.setenv("HELPLINE_REDIS_URL", url)
    monkeypatch.setenv("HELPLINE_ACTION_ENDPOINT", "http://127.0.0.1:5055/webhook")
    monkeypatch.setenv("HELPLINE_TRACKER_URL", "sqlite://")
    store = LockStore.create(read_endpoint_config(str(PROJECT_ROOT / "endpoints.yml"), "lock_store"))
    assert type(store) is (HelplineRedisLockStore if url else InMemoryLockStore)
