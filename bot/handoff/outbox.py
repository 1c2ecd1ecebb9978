"""Handoff requests that could not be written while the database was down, kept and retried.

A crisis handoff must reach the staff's queue even when it arrives during a database
outage: the request is kept in this process and written as soon as the database answers
again (every ``retry_seconds``). Until then the health route reports the server as degraded
and the log says how many wait. A restart of the server before the database is back loses
them; the log has already named each one (conversation id and tier).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional

logger = logging.getLogger(__name__)


class HandoffOutbox:
    def __init__(self, write: Callable[..., Awaitable[Any]], retry_seconds: float = 5.0) -> None:
        self._write = write                  # async: store.request_handoff run off the event loop
        self.retry_seconds = retry_seconds
        self.pending: List[Dict[str, Any]] = []
        self._task: Optional[asyncio.Task] = None
        self.on_written: Optional[Callable[[Dict[str, Any]], Awaitable[Any]]] = None

    def __len__(self) -> int:
        return len(self.pending)

    async def request_handoff(self, **request: Any) -> bool:
        """Write the request now if the database answers (True), else keep it for later (False)."""
        try:
            await self._write(**request)
            return True
        except Exception as problem:
            logger.error("could not write the %s handoff request of %s (%s); kept, retrying every %s s",
                         request.get("tier") or request.get("reason"), request.get("conversation_id"),
                         problem.__class__.__name__, self.retry_seconds)
            self.pending.append(request)
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._retry())
            return False

    async def _retry(self) -> None:
        while self.pending:
            await asyncio.sleep(self.retry_seconds)
            while self.pending:
                request = self.pending[0]
                try:
                    await self._write(**request)
                except Exception:
                    break  # still down: wait and try again
                self.pending.pop(0)
                logger.warning("wrote the %s handoff request of %s kept during the outage",
                               request.get("tier") or request.get("reason"), request.get("conversation_id"))
                if self.on_written is not None:
                    try:
                        await self.on_written(request)
                    except Exception:
                        logger.exception("could not announce a handoff request written late")
