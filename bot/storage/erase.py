"""Erasing conversations everywhere they are kept: Rasa's tracker store (the ``events`` rows)
and the helpline database (transcript, handoff requests and their staff messages, callback
requests); audit entries that point at an erased handoff are kept, detached.

Used by the web chat when a visitor deletes their chat (``erase_conversation``) and by the
retention job (bot/ops/retention.py), which finds the conversations to erase.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator, List, Optional, Sequence, Set

from sqlalchemy import column, delete, func, insert, inspect, null, or_, select, table, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.handoff.store import (AuditEntry, CallbackRequest, HandoffRequest, StaffMessage, StaffSession,
                               TranscriptMessage, utcnow)
from bot.storage.engine import DatabaseError
from bot.storage.urls import first_line, redact

BATCH = 500  # conversations per transaction

# Rasa's SQL tracker store (rasa.core.tracker_store.SQLTrackerStore): only the columns needed here
EVENTS = table("events", column("id"), column("sender_id"), column("timestamp"))

TRANSCRIPT = TranscriptMessage.__table__
HANDOFFS = HandoffRequest.__table__
STAFF_MESSAGES = StaffMessage.__table__
CALLBACKS = CallbackRequest.__table__
AUDIT = AuditEntry.__table__
SESSIONS = StaffSession.__table__


def chunks(items: Sequence[str], size: int = BATCH) -> Iterator[List[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class Databases:
    """The tracker store and the helpline database, either of which may not exist yet."""

    def __init__(self, tracker: Optional[Engine], helpline: Optional[Engine]) -> None:
        try:
            self.tracker = tracker if tracker is not None and self._has(tracker, ["events"]) else None
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the tracker store at {redact(str(getattr(tracker, 'url', '')))!r}: "
                                 f"{first_line(exc)}") from None
        try:
            present = self._present(helpline) if helpline is not None else set()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the helpline database at {redact(str(getattr(helpline, 'url', '')))!r}: "
                                 f"{first_line(exc)}") from None
        self.helpline = helpline if present else None
        self.tables: Set[str] = present

    @staticmethod
    def _has(engine: Engine, names: Iterable[str]) -> bool:
        with engine.connect() as connection:
            inspector = inspect(connection)
            return all(inspector.has_table(name) for name in names)

    @staticmethod
    def _present(engine: Engine) -> Set[str]:
        names = [t.name for t in (TRANSCRIPT, HANDOFFS, STAFF_MESSAGES, CALLBACKS, AUDIT, SESSIONS)]
        with engine.connect() as connection:
            inspector = inspect(connection)
            return {name for name in names if inspector.has_table(name)}

    def has(self, name: str) -> bool:
        return name in self.tables


# --------------------------------------------------------------------------- erasing

def count_rows(connection: Connection, target, condition) -> int:
    return connection.execute(select(func.count()).select_from(target).where(condition)).scalar_one()


def remove(connection: Connection, target, condition, dry_run: bool) -> int:
    if dry_run:
        return count_rows(connection, target, condition)
    return connection.execute(delete(target).where(condition)).rowcount


def erase(databases: Databases, conversation_ids: Sequence[str], *, by: str, dry_run: bool = False) -> Counter:
    """Erase these conversations everywhere (or, with ``dry_run``, count what would go): rows per table."""
    counts: Counter = Counter()
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        return counts
    if databases.tracker is not None:
        with databases.tracker.begin() as connection:
            counts["events"] += remove(connection, EVENTS, EVENTS.c.sender_id.in_(ids), dry_run)
    if databases.helpline is None:
        return counts
    with databases.helpline.begin() as connection:
        handoff_ids: List[int] = []
        if databases.has("handoff_requests"):
            handoff_ids = list(connection.execute(
                select(HANDOFFS.c.id).where(HANDOFFS.c.conversation_id.in_(ids))).scalars())
        if databases.has("transcript_messages"):
            counts["transcript_messages"] += remove(
                connection, TRANSCRIPT, TRANSCRIPT.c.conversation_id.in_(ids), dry_run)
        if databases.has("staff_messages") and handoff_ids:
            counts["staff_messages"] += remove(
                connection, STAFF_MESSAGES, STAFF_MESSAGES.c.handoff_id.in_(handoff_ids), dry_run)
        if databases.has("callback_requests"):
            mine = CALLBACKS.c.conversation_id.in_(ids)
            if handoff_ids:
                mine = or_(mine, CALLBACKS.c.handoff_id.in_(handoff_ids))
            counts["callback_requests"] += remove(connection, CALLBACKS, mine, dry_run)
        if databases.has("audit_log") and handoff_ids:
            linked = AUDIT.c.handoff_id.in_(handoff_ids)
            if dry_run:
                counts["audit_log"] += count_rows(connection, AUDIT, linked)
            else:
                # kept for accountability, without the link or the details (a note can be about the visitor)
                counts["audit_log"] += connection.execute(
                    update(AUDIT).where(linked).values(handoff_id=None, details=null())).rowcount
        if handoff_ids:
            counts["handoff_requests"] += remove(connection, HANDOFFS, HANDOFFS.c.id.in_(handoff_ids), dry_run)
            if not dry_run and databases.has("audit_log"):
                connection.execute(insert(AUDIT).values(
                    staff_id=None, action="erased", handoff_id=None, created_at=utcnow(),
                    details={"by": by, "handoffs": len(handoff_ids)}))
    return counts


def erase_conversation(conversation_id: str, tracker: Optional[Engine], helpline: Optional[Engine],
                       by: str = "visitor") -> Counter:
    """Erase one conversation everywhere, open handoff or not: a visitor deleting their chat."""
    if not conversation_id:
        raise ValueError("conversation_id is required")
    return erase(Databases(tracker, helpline), [conversation_id], by=by)
