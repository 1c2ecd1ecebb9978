"""Retention: conversations are kept for a limited time, then erased.

    python -m bot.ops.retention [--days N] [--dry-run] [--tracker-url URL] [--database-url URL]

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

The same code (bot/storage/erase.py) erases one conversation when a visitor deletes
their chat in the widget (``erase_conversation``, called by bot/channels/webchat.py).

Exit codes: 0 when done (also when there was nothing to erase), 2 when a
database cannot be used (bad URL, server down, not a database) or the settings
are wrong.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot import config
from bot.handoff.store import OPEN
from bot.storage.engine import DatabaseError, open_engine
from bot.storage.erase import (CALLBACKS, EVENTS, HANDOFFS, SESSIONS, TRANSCRIPT, BATCH, Databases, chunks,
                               remove, erase)
from bot.storage.urls import first_line, redact

DEFAULT_DAYS = 30
MAX_DAYS = 36500
DAYS_VARIABLE = config.RETENTION_DAYS

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


class RetentionError(DatabaseError):
    """A database cannot be used, or a setting is wrong: one line for the operator."""


def retention_days(environ: Optional[Dict[str, str]] = None) -> int:
    """HELPLINE_RETENTION_DAYS, else 30."""
    try:
        return config.retention_days(DEFAULT_DAYS, MAX_DAYS, environ)
    except config.ConfigError as exc:
        raise RetentionError(str(exc)) from None


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
            for ids in chunks(ordered):
                recent.update(connection.execute(
                    select(EVENTS.c.sender_id).distinct()
                    .where(EVENTS.c.sender_id.in_(ids), EVENTS.c.timestamp >= cutoff.timestamp())).scalars())
    if databases.helpline is not None:
        with databases.helpline.connect() as connection:
            for ids in chunks(ordered):
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


def expired_sessions(databases: Databases, now: datetime, dry_run: bool = False) -> int:
    if databases.helpline is None or not databases.has("staff_sessions"):
        return 0
    with databases.helpline.begin() as connection:
        return remove(connection, SESSIONS, SESSIONS.c.expires_at < now, dry_run)


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
        for ids in chunks(expired):
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
        prog="python -m bot.ops.retention", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        run(args.tracker_url or config.tracker_url(), args.database_url or config.database_url(), days,
            dry_run=args.dry_run, say=lambda line: print(line, flush=True))
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
