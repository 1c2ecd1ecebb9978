"""Handoff requests that could not be written while the database was down, kept and retried.

A crisis handoff must reach the staff's queue even when it arrives during a database
outage: the request is kept and written as soon as the database answers again (every
``retry_seconds``). Until then the health route reports the server as degraded and the log
says how many wait.

Each kept request is also a file in the spool directory (``HELPLINE_OUTBOX_DIR``, default
``var/outbox``), written before the visitor's answer goes on and deleted once the request is
in the database, so a restart or a crash during the outage loses nothing: at start the server
takes over the files of servers that no longer run (``recover``) and writes them too. A
file's name ends with the process id of the server that keeps it; servers sharing the
directory leave each other's files alone while the other runs. Writing a request twice (a
crash between the database write and the file's deletion) is harmless: a conversation's
open handoff request takes the second one in.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from bot import PROJECT_ROOT

logger = logging.getLogger(__name__)

DEFAULT_SPOOL = PROJECT_ROOT / "var" / "outbox"


def spool_from_env() -> Path:
    """HELPLINE_OUTBOX_DIR (a relative path is taken from the project's folder), else var/outbox."""
    return PROJECT_ROOT / (os.environ.get("HELPLINE_OUTBOX_DIR") or DEFAULT_SPOOL)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class HandoffOutbox:
    def __init__(self, write: Callable[..., Awaitable[Any]], retry_seconds: float = 5.0,
                 spool: Optional[Path] = None) -> None:
        self._write = write                  # async: store.request_handoff run off the event loop
        self.retry_seconds = retry_seconds
        self.spool = spool                   # None: kept in memory only
        self.pending: List[Tuple[Dict[str, Any], Optional[Path]]] = []
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
            path = await asyncio.to_thread(self._keep, request)
            self._add(request, path)
            return False

    def recover(self) -> int:
        """Take over the kept requests of servers that no longer run (call at start, on the
        event loop); they are written like this server's own. How many were taken."""
        if self.spool is None or not self.spool.is_dir():
            return 0
        taken = 0
        for path in sorted(self.spool.glob("*.json")):
            name, _, pid = path.stem.rpartition(".")
            if not pid.isdigit() or (int(pid) != os.getpid() and _running(int(pid))):
                continue
            mine = path.with_name(f"{name}.{os.getpid()}.json")
            try:
                os.rename(path, mine)  # atomic: of servers starting together, one takes it
                request = json.loads(mine.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError):
                logger.exception("could not read the kept handoff request %s; it is left as it is", path)
                continue
            if not isinstance(request, dict):
                logger.error("the kept handoff request %s is not a request; it is left as it is", mine)
                continue
            self._add(request, mine)
            taken += 1
        if taken:
            logger.warning("%s handoff request(s) kept by a server that stopped during a database outage "
                           "will be written", taken)
        return taken

    def _keep(self, request: Dict[str, Any]) -> Optional[Path]:
        """The request as a file in the spool directory (None when there is none or it fails)."""
        if self.spool is None:
            return None
        path = self.spool / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.{os.getpid()}.json"
        partial = path.with_suffix(".partial")
        try:
            self.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                           encoding="utf-8") as handle:
                json.dump(request, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
            return path
        except OSError:
            logger.exception("could not keep the handoff request of %s on disk (%s): it is kept in memory only",
                             request.get("conversation_id"), self.spool)
            return None

    def _add(self, request: Dict[str, Any], path: Optional[Path]) -> None:
        self.pending.append((request, path))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        while self.pending:
            await asyncio.sleep(self.retry_seconds)
            while self.pending:
                request, path = self.pending[0]
                try:
                    await self._write(**request)
                except Exception:
                    break  # still down: wait and try again
                self.pending.pop(0)
                if path is not None:
                    try:
                        path.unlink()
                    except OSError:
                        logger.exception("could not delete the written handoff request %s", path)
                logger.warning("wrote the %s handoff request of %s kept during the outage",
                               request.get("tier") or request.get("reason"), request.get("conversation_id"))
                if self.on_written is not None:
                    try:
                        await self.on_written(request)
                    except Exception:
                        logger.exception("could not announce a handoff request written late")
