"""Retention: conversations are kept for a limited time, then erased.

    python -m bot.retention [--days N] [--dry-run] [--tracker-url URL] [--database-url URL]

A conversation is erased when its last activity is older than ``--days`` days
(default: ``HELPLINE_RETENTION_DAYS``, else 30). Its last activity is the latest
of: an event in Rasa's tracker store (a message, the NLU result, a bot action),
a transcript message, a change to one of its handoff requests, a callback
request. Erased, for each such conversation:

* Rasa's tracker store (``HELPLINE_TRACKER_URL``): every row of the ``events``
  table for the conversation (messages and NLU results);
* the helpline database (``HELPLINE_DATABASE_URL``): its transcript, its
  handoff requests and the staff messages sent in them, its callback requests
  (phone number and best time to call);
* audit log entries that point at an erased handoff are kept, detached: the
  link to the handoff and the details (which can hold a resolution note about
  the visitor) are removed; who did what and when stays, for accountability.
  An ``erased`` entry (one per call of ``erase``: per deleted chat, per batch
  of this job) records how many handoffs went and why (``by``: ``retention``
  or ``visitor``).

A conversation with an open handoff (waiting for or talking to staff) is never
erased by this job, however old: staff resolve it first. Expired staff console
sessions are deleted too.

The same code erases one conversation when a visitor deletes their chat in the
widget (``erase_conversation``, called by bot/channels/webchat.py).

Exit codes: 0 when done (also when there was nothing to erase), 2 when a
database cannot be used (bad URL, server down, not a database) or the settings
are wrong.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from sqlalchemy import column, delete, func, insert, inspect, null, or_, select, table, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.handoff.store import (OPEN, AuditEntry, CallbackRequest, HandoffRequest, StaffMessage, StaffSession,
                               TranscriptMessage, utcnow)
from bot.settings import DEFAULT_DATABASE_URL
from bot.storage.engine import open_engine
from bot.storage.urls import first_line, redact

DEFAULT_DAYS = 30
MAX_DAYS = 36500
DAYS_VARIABLE = "HELPLINE_RETENTION_DAYS"
BATCH = 500  # conversations per transaction

# Rasa's SQL tracker store (rasa.core.tracker_store.SQLTrackerStore): only the columns needed here
EVENTS = table("events", column("id"), column("sender_id"), column("timestamp"))

TRANSCRIPT = TranscriptMessage.__table__
HANDOFFS = HandoffRequest.__table__
STAFF_MESSAGES = StaffMessage.__table__
CALLBACKS = CallbackRequest.__table__
AUDIT = AuditEntry.__table__
SESSIONS = StaffSession.__table__

# the report's rows, in this order, with what each count means
ROWS = [
    ("events", "tracker store: messages, NLU results, bot actions"),
    ("transcript_messages", "transcript: visitor, bot and staff messages"),
    ("handoff_requests", "handoff requests"),
    ("staff_messages", "staff messages in those handoffs"),
    ("callback_requests", "callback requests: phone numbers, best times"),
    ("audit_log", "audit entries detached from erased handoffs (kept)"),
    ("staff_sessions", "expired staff console sessions"),
]


class RetentionError(Exception):
    """A database cannot be used, or a setting is wrong: one line for the operator."""


def retention_days(environ: Optional[Dict[str, str]] = None) -> int:
    """HELPLINE_RETENTION_DAYS, else 30."""
    value = (os.environ if environ is None else environ).get(DAYS_VARIABLE, "").strip()
    if not value:
        return DEFAULT_DAYS
    try:
        days = int(value)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_DAYS:
        raise RetentionError(f"{DAYS_VARIABLE} must be a whole number of days from 1 to {MAX_DAYS}, not {value!r}")
    return days


def default_tracker_url() -> str:
    """HELPLINE_TRACKER_URL, else the SQLite file `make run` gives Rasa (bot.run.server_env)."""
    from bot.run import server_env

    return server_env(actions_port=0)["HELPLINE_TRACKER_URL"]


def default_database_url() -> str:
    return os.environ.get("HELPLINE_DATABASE_URL", DEFAULT_DATABASE_URL)


def _chunks(items: Sequence[str], size: int = BATCH) -> Iterator[List[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class Databases:
    """The tracker store and the helpline database, either of which may not exist yet."""

    def __init__(self, tracker: Optional[Engine], helpline: Optional[Engine]) -> None:
        try:
            self.tracker = tracker if tracker is not None and self._has(tracker, ["events"]) else None
        except SQLAlchemyError as exc:
            raise RetentionError(f"cannot read the tracker store at {redact(str(tracker.url))!r}: "
                                 f"{first_line(exc)}") from None
        try:
            present = self._present(helpline) if helpline is not None else set()
        except SQLAlchemyError as exc:
            raise RetentionError(f"cannot read the helpline database at {redact(str(helpline.url))!r}: "
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


# --------------------------------------------------------------------------- finding old conversations

def _old_in_tracker(connection: Connection, cutoff: float) -> Set[str]:
    query = select(EVENTS.c.sender_id).group_by(EVENTS.c.sender_id).having(func.max(EVENTS.c.timestamp) < cutoff)
    return set(connection.execute(query).scalars())


def _old_in(connection: Connection, key, when, cutoff: datetime) -> Set[str]:
    return set(connection.execute(select(key).group_by(key).having(func.max(when) < cutoff)).scalars())


def expired_conversations(databases: Databases, cutoff: datetime) -> Tuple[List[str], int]:
    """(conversations whose last activity is before ``cutoff``, how many of the old ones have an open handoff)."""
    candidates: Set[str] = set()
    if databases.tracker is not None:
        with databases.tracker.connect() as connection:
            candidates |= _old_in_tracker(connection, cutoff.timestamp())
    if databases.helpline is not None:
        with databases.helpline.connect() as connection:
            if databases.has("transcript_messages"):
                candidates |= _old_in(connection, TRANSCRIPT.c.conversation_id, TRANSCRIPT.c.created_at, cutoff)
            if databases.has("handoff_requests"):
                candidates |= _old_in(connection, HANDOFFS.c.conversation_id, HANDOFFS.c.updated_at, cutoff)
            if databases.has("callback_requests"):
                candidates |= _old_in(connection, CALLBACKS.c.conversation_id, CALLBACKS.c.created_at, cutoff)

    # old in one place may still be recent in another, or waiting for staff
    recent: Set[str] = set()
    held: Set[str] = set()
    ordered = sorted(candidates)
    if databases.tracker is not None:
        with databases.tracker.connect() as connection:
            for ids in _chunks(ordered):
                recent.update(connection.execute(
                    select(EVENTS.c.sender_id).distinct()
                    .where(EVENTS.c.sender_id.in_(ids), EVENTS.c.timestamp >= cutoff.timestamp())).scalars())
    if databases.helpline is not None:
        with databases.helpline.connect() as connection:
            for ids in _chunks(ordered):
                if databases.has("transcript_messages"):
                    recent.update(connection.execute(
                        select(TRANSCRIPT.c.conversation_id).distinct()
                        .where(TRANSCRIPT.c.conversation_id.in_(ids), TRANSCRIPT.c.created_at >= cutoff)).scalars())
                if databases.has("handoff_requests"):
                    recent.update(connection.execute(
                        select(HANDOFFS.c.conversation_id).distinct()
                        .where(HANDOFFS.c.conversation_id.in_(ids), HANDOFFS.c.updated_at >= cutoff)).scalars())
                    held.update(connection.execute(
                        select(HANDOFFS.c.conversation_id).distinct()
                        .where(HANDOFFS.c.conversation_id.in_(ids), HANDOFFS.c.status.in_(OPEN))).scalars())
                if databases.has("callback_requests"):
                    recent.update(connection.execute(
                        select(CALLBACKS.c.conversation_id).distinct()
                        .where(CALLBACKS.c.conversation_id.in_(ids), CALLBACKS.c.created_at >= cutoff)).scalars())
    old = candidates - recent
    return sorted(old - held), len(old & held)


# --------------------------------------------------------------------------- erasing

def _count(connection: Connection, target, condition) -> int:
    return connection.execute(select(func.count()).select_from(target).where(condition)).scalar_one()


def _remove(connection: Connection, target, condition, dry_run: bool) -> int:
    if dry_run:
        return _count(connection, target, condition)
    return connection.execute(delete(target).where(condition)).rowcount


def erase(databases: Databases, conversation_ids: Sequence[str], *, by: str, dry_run: bool = False) -> Counter:
    """Erase these conversations everywhere (or, with ``dry_run``, count what would go): rows per table."""
    counts: Counter = Counter()
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        return counts
    if databases.tracker is not None:
        with databases.tracker.begin() as connection:
            counts["events"] += _remove(connection, EVENTS, EVENTS.c.sender_id.in_(ids), dry_run)
    if databases.helpline is None:
        return counts
    with databases.helpline.begin() as connection:
        handoff_ids: List[int] = []
        if databases.has("handoff_requests"):
            handoff_ids = list(connection.execute(
                select(HANDOFFS.c.id).where(HANDOFFS.c.conversation_id.in_(ids))).scalars())
        if databases.has("transcript_messages"):
            counts["transcript_messages"] += _remove(
                connection, TRANSCRIPT, TRANSCRIPT.c.conversation_id.in_(ids), dry_run)
        if databases.has("staff_messages") and handoff_ids:
            counts["staff_messages"] += _remove(
                connection, STAFF_MESSAGES, STAFF_MESSAGES.c.handoff_id.in_(handoff_ids), dry_run)
        if databases.has("callback_requests"):
            mine = CALLBACKS.c.conversation_id.in_(ids)
            if handoff_ids:
                mine = or_(mine, CALLBACKS.c.handoff_id.in_(handoff_ids))
            counts["callback_requests"] += _remove(connection, CALLBACKS, mine, dry_run)
        if databases.has("audit_log") and handoff_ids:
            linked = AUDIT.c.handoff_id.in_(handoff_ids)
            if dry_run:
                counts["audit_log"] += _count(connection, AUDIT, linked)
            else:
                # kept for accountability, without the link or the details (a note can be about the visitor)
                counts["audit_log"] += connection.execute(
                    update(AUDIT).where(linked).values(handoff_id=None, details=null())).rowcount
        if handoff_ids:
            counts["handoff_requests"] += _remove(connection, HANDOFFS, HANDOFFS.c.id.in_(handoff_ids), dry_run)
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


def expired_sessions(databases: Databases, now: datetime, dry_run: bool = False) -> int:
    if databases.helpline is None or not databases.has("staff_sessions"):
        return 0
    with databases.helpline.begin() as connection:
        return _remove(connection, SESSIONS, SESSIONS.c.expires_at < now, dry_run)


# --------------------------------------------------------------------------- the job

@dataclass
class Report:
    days: int
    cutoff: datetime
    dry_run: bool
    conversations: int = 0
    kept_open: int = 0
    counts: Counter = field(default_factory=Counter)
    notes: List[str] = field(default_factory=list)

    def lines(self) -> List[str]:
        head = "Would delete" if self.dry_run else "Deleted"
        lines = [f"{head} {self.conversations:,} conversation{'s' if self.conversations != 1 else ''}; "
                 f"kept {self.kept_open:,} old one{'s' if self.kept_open != 1 else ''} with an open handoff."]
        width = max(len(name) for name, _ in ROWS)
        for name, meaning in ROWS:
            lines.append(f"  {name:<{width}}  {self.counts.get(name, 0):>9,}  {meaning}")
        return lines


def run(tracker_url: str, database_url: str, days: int, dry_run: bool = False, now: Optional[datetime] = None,
        say: Callable[[str], None] = print) -> Report:
    """Erase the conversations with no activity for ``days`` days (raises RetentionError)."""
    if not 1 <= days <= MAX_DAYS:
        raise RetentionError(f"days must be from 1 to {MAX_DAYS}, not {days}")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    report = Report(days=days, cutoff=now - timedelta(days=days), dry_run=dry_run)
    tracker = helpline = None
    try:
        # None for an SQLite file that does not exist: never create an empty database here; WAL
        # and a busy timeout on one that does: the running server may be writing at the same time
        tracker = open_engine(tracker_url, synchronous="NORMAL", error=RetentionError)
        helpline = open_engine(database_url, synchronous="FULL", error=RetentionError)
        databases = Databases(tracker, helpline)
        if databases.tracker is None:
            report.notes.append(f"No conversations in the tracker store {redact(tracker_url)} yet.")
        if databases.helpline is None:
            report.notes.append(f"No helpline tables in {redact(database_url)} yet.")
        for note in report.notes:
            say(note)
        say(f"{'Dry run, nothing is deleted. ' if dry_run else ''}Looking for conversations with no activity "
            f"since {report.cutoff:%Y-%m-%d %H:%M} UTC ({days} day{'s' if days != 1 else ''})...")
        expired, report.kept_open = expired_conversations(databases, report.cutoff)
        total = len(expired)
        say(f"Found {total:,} conversation{'s' if total != 1 else ''} "
            f"{'that would be erased' if dry_run else 'to erase'}.")
        done = 0
        for ids in _chunks(expired):
            report.counts.update(erase(databases, ids, by="retention", dry_run=dry_run))
            done += len(ids)
            if total > BATCH:
                say(f"  {done:,} of {total:,} conversations {'counted' if dry_run else 'erased'}")
        report.conversations = total
        report.counts["staff_sessions"] += expired_sessions(databases, now, dry_run)
    except SQLAlchemyError as exc:
        # each batch is one transaction: what was erased stays erased, a second run finishes the job
        raise RetentionError(f"stopped (tracker store {redact(tracker_url)}, helpline database "
                             f"{redact(database_url)}): {first_line(exc)}") from None
    finally:
        for engine in (tracker, helpline):
            if engine is not None:
                engine.dispose()
    for line in report.lines():
        say(line)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.retention", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=None,
                        help=f"erase conversations with no activity for this many days "
                             f"(default: {DAYS_VARIABLE}, else {DEFAULT_DAYS})")
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    parser.add_argument("--tracker-url", default=None,
                        help="Rasa's SQL tracker store (default: HELPLINE_TRACKER_URL, else var/tracker.db)")
    parser.add_argument("--database-url", default=None,
                        help="the helpline database (default: HELPLINE_DATABASE_URL, else var/helpline.db)")
    args = parser.parse_args(argv)
    if args.days is not None and not 1 <= args.days <= MAX_DAYS:
        parser.error(f"--days must be from 1 to {MAX_DAYS}")
    try:
        days = args.days if args.days is not None else retention_days()
        run(args.tracker_url or default_tracker_url(), args.database_url or default_database_url(), days,
            dry_run=args.dry_run, say=lambda line: print(line, flush=True))
    except RetentionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
