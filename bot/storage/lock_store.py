"""A Redis lock store for several Rasa servers, without the race of Rasa's own.

Rasa processes the messages of one conversation one at a time, in the order they came,
with a ticket lock kept in the lock store. Rasa's ``RedisLockStore`` changes that lock by
reading it, changing it in the server and writing it back: two servers issuing a ticket at
the same moment both read the same lock, both take the same ticket number, and the second
write drops the first ticket. Both servers then process the conversation at once, and one
tracker save overwrites the other's events (tests/storage/test_lock_store.py shows it). Cleaning up
has the same gap: a server can delete a lock another server has just queued on.

This store keeps Rasa's ticket lock but makes each change atomic: a Redis transaction that
watches the key and retries if another server changed it in between (optimistic locking).
It also polls a queued ticket every 50 ms instead of every second.

endpoints.yml:  lock_store: {type: bot.storage.lock_store.HelplineRedisLockStore, url: ${HELPLINE_REDIS_URL}}
With the URL empty (the default: one server, no Redis) it is Rasa's in-memory lock store.
"""
from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Callable, Optional, Text, Tuple, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockError, LockStore

logger = logging.getLogger(__name__)

KEY_PREFIX = "helpline:lock:"
WAIT_SECONDS = 0.05      # between two looks at a lock this server queues on
SOCKET_TIMEOUT = 5.0     # seconds Redis may take to answer before the message fails

Result = TypeVar("Result")


class HelplineRedisLockStore(LockStore):
    def __new__(cls, endpoint_config: Any = None, url: Optional[str] = None, **kwargs: Any):
        if not (url or getattr(endpoint_config, "url", None)):
            return InMemoryLockStore()  # one server: nothing to share
        return super().__new__(cls)

    def __init__(self, endpoint_config: Any = None, url: Optional[str] = None, key_prefix: str = KEY_PREFIX) -> None:
        import redis

        url = url or getattr(endpoint_config, "url", None)
        if not url:
            raise ValueError("the Redis lock store needs a URL, e.g. redis://127.0.0.1:6379/1 (HELPLINE_REDIS_URL)")
        self.url = url
        self.red = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
        self.key_prefix = key_prefix
        super().__init__()

    # -- storage (Rasa's interface) --------------------------------------------------

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        raw = self.red.get(self.key_prefix + conversation_id)
        return TicketLock.from_dict(json.loads(raw)) if raw else None

    def delete_lock(self, conversation_id: Text) -> None:
        self.red.delete(self.key_prefix + conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        self.red.set(self.key_prefix + lock.conversation_id, lock.dumps())

    # -- every read-change-write, atomic ---------------------------------------------

    def _change(self, conversation_id: Text,
                change: Callable[[Optional[TicketLock]], Tuple[Optional[TicketLock], Result]]) -> Result:
        """Apply ``change`` to the stored lock atomically; a lock without tickets is deleted."""
        key = self.key_prefix + conversation_id

        def transaction(pipe) -> Result:
            raw = pipe.get(key)
            lock, result = change(TicketLock.from_dict(json.loads(raw)) if raw else None)
            pipe.multi()
            if lock is None or not lock.tickets:
                pipe.delete(key)
            else:
                pipe.set(key, lock.dumps())
            return result

        return self.red.transaction(transaction, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def issue(lock: Optional[TicketLock]):
            lock = lock or TicketLock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, issue)
        except Exception as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: Text) -> None:
        def drop_expired(lock: Optional[TicketLock]):
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        def remove(lock: Optional[TicketLock]):
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, remove)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        # removing the ticket and deleting an empty lock are one step: Rasa's two steps could
        # delete a lock that another server had queued on in between
        self.finish_serving(conversation_id, ticket_number)

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = WAIT_SECONDS) -> AsyncGenerator[TicketLock, None]:
        async with super().lock(conversation_id, lock_lifetime, wait_time_in_seconds) as lock:
            yield lock

    def ping(self) -> None:
        self.red.ping()
