"""Handoff requests that could not be written while the database was down, kept and retried.

A crisis handoff must reach the staff's queue even when it arrives during a database
outage: the request is kept and written as soon as the database answers again (every
``retry_seconds``). Until then the health route reports the server as degraded and the log
says how many wait.

Each kept request is also a file in the spool directory (``HELPLINE_OUTBOX_DIR``, default
``var/outbox``), made as soon as the write fails (the crisis reply has gone out by then) and
deleted once the request is in the database, so a restart or a crash during the outage loses
nothing. The server keeps each of its files locked (``flock``) while it is waiting; the lock
goes when the process does, however it ends. Every server looks for files nobody holds at
start and every ``scan_seconds`` after (``recover``), takes them and writes them too, so
servers may share the directory (on one machine: flock is not reliable across machines).
A server that stops lets go of its files. A file that is not a request is renamed ``*.bad``
and logged. A visitor who deletes their chat takes its kept requests with it (``forget``),
and a kept request of a chat deleted on any server is dropped before it is written.

Writing a request twice is possible after a crash between the database write and the file's
deletion; it is harmless while the conversation's handoff is open (the open request takes
the second one in), and otherwise shows as a second request in the queue.
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional

from bot import config

logger = logging.getLogger(__name__)

DEFAULT_SPOOL = config.DEFAULT_SPOOL
REQUEST_KEYS = {"conversation_id", "reason", "tier", "triggers", "message_text", "live", "detail"}
PARTIAL_SECONDS = 60.0  # a file still being written is younger


def spool_from_env() -> Path:
    """HELPLINE_OUTBOX_DIR (a relative path is taken from the project's folder), else var/outbox."""
    return config.outbox_dir()


@dataclass
class Kept:
    request: Dict[str, Any]
    path: Optional[Path] = None   # its file, None when kept in memory only
    fd: Optional[int] = None      # the file, open and locked while the request waits

    def done(self) -> None:
        """The request is written (or dropped): delete its file, then let go of it."""
        if self.path is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                logger.exception("could not delete the kept handoff request %s", self.path)
        self.release()
        self.path = None

    def release(self) -> None:
        """Let go of the file (it stays on disk for another server to take)."""
        if self.fd is not None:
            os.close(self.fd)  # unlocks it
            self.fd = None


class HandoffOutbox:
    def __init__(self, write: Callable[..., Awaitable[Any]], retry_seconds: float = 5.0,
                 spool: Optional[Path] = None, scan_seconds: float = 60.0,
                 erased: Optional[Callable[[str], Awaitable[bool]]] = None) -> None:
        self._write = write                  # async: store.request_handoff run off the event loop
        self.retry_seconds = retry_seconds
        self.scan_seconds = scan_seconds
        self.spool = spool                   # None: kept in memory only
        self._erased = erased                # async: whether a visitor deleted the conversation (any server)
        self.pending: List[Kept] = []
        self._writing: Optional[Kept] = None  # the request being written now
        self._stopped = False
        self._task: Optional[asyncio.Task] = None
        self._scanner: Optional[asyncio.Task] = None
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
            self._add(await asyncio.to_thread(self._keep, request))
            return False

    async def forget(self, conversation_id: str) -> int:
        """Drop the kept requests of a conversation (its visitor deletes it); how many. Call it
        before erasing the conversation: a write of one of them already under way is waited for,
        so the erasure removes what it wrote."""
        while self._writing is not None and self._writing.request.get("conversation_id") == conversation_id:
            await asyncio.sleep(0.05)
        gone = [kept for kept in self.pending if kept.request.get("conversation_id") == conversation_id]
        for kept in gone:
            self._drop(kept)
        return len(gone)

    def start(self) -> None:
        """Take over what stopped servers left (on the event loop, at start), then look again
        every ``scan_seconds``."""
        try:
            self.recover()
        except Exception:
            logger.exception("could not look for kept handoff requests in %s", self.spool)
        if self.spool is not None and self.scan_seconds > 0 and self._scanner is None:
            self._scanner = asyncio.get_running_loop().create_task(self._scan())

    async def stop(self, wait_seconds: float = 10.0) -> None:
        """At shutdown: stop looking and retrying (a write under way may finish), and let go of
        the kept files: they stay on disk, so another server, or this one when it starts again,
        writes them. A request kept in memory only is logged, as it cannot be handed on."""
        self._stopped = True
        if self._scanner is not None:
            self._scanner.cancel()
        if self._task is not None and not self._task.done():
            if self._writing is not None:  # cancelling would not stop the database thread: wait
                await asyncio.wait({self._task}, timeout=wait_seconds)
            self._task.cancel()
        for task in (self._task, self._scanner):
            if task is not None:
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        self._task = self._scanner = None
        for kept in self.pending:
            kept.release()
            if kept.path is None:
                logger.critical("a crisis handoff request kept in memory only is lost at shutdown: conversation %s, "
                                "tier %s, triggers %s", kept.request.get("conversation_id"), kept.request.get("tier"),
                                kept.request.get("triggers"))
        if self.pending:
            logger.warning("%s crisis handoff request(s) still wait for the database; left in %s for the next "
                           "server", len([k for k in self.pending if k.path is not None]), self.spool)
        self.pending = []

    async def _scan(self) -> None:
        while True:
            await asyncio.sleep(self.scan_seconds)
            try:
                self.recover()
            except Exception:
                logger.exception("could not look for kept handoff requests in %s", self.spool)

    def recover(self) -> int:
        """Take the kept requests no running server holds (call on the event loop); how many."""
        if self._stopped or self.spool is None or not self.spool.is_dir():
            return 0
        taken = 0
        # a *.partial is a request its server had not finished writing: only an old one is left over
        partials = [p for p in self.spool.glob("*.partial") if _age(p) > PARTIAL_SECONDS]
        for path in sorted([*self.spool.glob("*.json"), *partials]):
            kept = self._take(path)
            if kept is not None:
                self._add(kept)
                taken += 1
        if taken:
            logger.warning("%s handoff request(s) kept by a server that stopped during a database outage "
                           "will be written", taken)
        return taken

    def _take(self, path: Path) -> Optional[Kept]:
        """The request in a file nobody holds, now held by this server; else None."""
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:  # written and deleted by its server meanwhile
            return None
        except OSError:
            logger.exception("could not open the kept handoff request %s", path)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_nlink == 0:  # its server wrote and deleted it while this one opened it
                raise FileNotFoundError(path)
        except OSError:  # a running server holds it (this one included), or it is gone
            os.close(fd)
            return None
        request = _read(fd)
        if request is None:
            logger.error("the kept handoff request %s is not a request; renamed to *.bad", path)
            try:
                os.replace(path, path.with_suffix(".bad"))
            except OSError:
                logger.exception("could not rename %s", path)
            os.close(fd)
            return None
        return Kept(request, path, fd)

    def _keep(self, request: Dict[str, Any]) -> Kept:
        """The request as a file in the spool directory, locked (in memory only without one)."""
        if self.spool is None:
            return Kept(request)
        path = self.spool / f"{time.time_ns()}-{uuid.uuid4().hex[:12]}.json"
        partial = path.with_suffix(".partial")
        fd = None
        try:
            data = json.dumps(request).encode()
            self.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
            os.fsync(fd)
            os.replace(partial, path)
            return Kept(request, path, fd)
        except Exception:
            logger.exception("could not keep the handoff request of %s on disk (%s): it is kept in memory only",
                             request.get("conversation_id"), self.spool)
            if fd is not None:
                try:
                    partial.unlink()  # else a later look would take it and write it twice
                except OSError:
                    pass
                os.close(fd)
            return Kept(request)

    def _add(self, kept: Kept) -> None:
        self.pending.append(kept)
        if not self._stopped and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        while self.pending and not self._stopped:
            await asyncio.sleep(self.retry_seconds)
            # each one in turn, oldest first; one that fails does not hold back the others
            for kept in list(self.pending):
                if self._stopped:
                    return
                if kept in self.pending:
                    await self._try(kept)

    async def _try(self, kept: Kept) -> None:
        conversation_id = str(kept.request.get("conversation_id") or "")
        if self._erased is not None and await self._erased(conversation_id):
            logger.warning("dropped a kept handoff request of %s: its visitor deleted the chat", conversation_id)
            self._drop(kept)
            return
        self._writing = kept
        try:
            await self._write(**kept.request)
        except (TypeError, ValueError) as bad:  # not the database: this request can never be written
            logger.error("dropped a kept handoff request of %s that cannot be written (%s): %s",
                         conversation_id, bad, kept.request)
            if kept.path is not None:
                try:
                    os.replace(kept.path, kept.path.with_suffix(".bad"))
                except OSError:
                    pass
            self._drop(kept)
            return
        except Exception:
            return  # still down: next round
        finally:
            self._writing = None
        self._drop(kept)
        logger.warning("wrote the %s handoff request of %s kept during the outage",
                       kept.request.get("tier") or kept.request.get("reason"), conversation_id)
        if self.on_written is not None:
            try:
                await self.on_written(kept.request)
            except Exception:
                logger.exception("could not announce a handoff request written late")

    def _drop(self, kept: Kept) -> None:
        if kept in self.pending:
            self.pending.remove(kept)
        kept.done()


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _read(fd: int) -> Optional[Dict[str, Any]]:
    """The request in a kept file, or None when it is not one."""
    try:
        with os.fdopen(os.dup(fd), "rb") as handle:
            handle.seek(0)
            request = json.loads(handle.read())
    except Exception:  # unreadable, not JSON, nested too deep
        return None
    if not isinstance(request, dict) or not request.get("conversation_id") or set(request) - REQUEST_KEYS:
        return None
    return request
