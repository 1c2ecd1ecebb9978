"""Handoff and callback records (SQLAlchemy, 2.0-style API on the 1.4 that Rasa pins).

SQLite file by default, any SQLAlchemy URL through ``HELPLINE_DATABASE_URL``
(PostgreSQL in production). The tables are shaped for the live staff console:
requests are claimed by one staff member, answered, resolved with a note, and
every staff action goes to the audit log.
"""
from __future__ import annotations

import enum
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, declarative_base, sessionmaker

Base = declarative_base()

TIER_PRIORITY = {"emergency": 0, "suicide": 1, "medical": 2, None: 5}  # lower is more urgent


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Status(str, enum.Enum):
    waiting = "waiting"
    claimed = "claimed"
    returned = "returned"     # handed back to the bot
    resolved = "resolved"
    cancelled = "cancelled"   # the visitor went back to the bot


class StaffUser(Base):
    __tablename__ = "staff_users"
    id = Column(Integer, primary_key=True)
    username = Column(String(80), nullable=False, unique=True)
    display_name = Column(String(80), nullable=False)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(20), nullable=False, default="staff")
    active = Column(Boolean, nullable=False, default=True)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    __table_args__ = (CheckConstraint("role in ('staff', 'supervisor')", name="ck_staff_role"),)


class HandoffRequest(Base):
    __tablename__ = "handoff_requests"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False)
    reason = Column(String(40), nullable=False)          # crisis | visitor_request
    tier = Column(String(20))                            # emergency | suicide | medical | None
    priority = Column(Integer, nullable=False)           # 0 most urgent
    trigger_phrases = Column(JSON, nullable=False, default=list)
    message_text = Column(Text)
    status = Column(String(20), nullable=False, default=Status.waiting.value)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)
    claimed_by = Column(Integer, ForeignKey("staff_users.id"))
    claimed_at = Column(DateTime(timezone=True))
    resolved_at = Column(DateTime(timezone=True))
    resolution_note = Column(Text)
    __table_args__ = (
        Index("ix_handoff_queue", "status", "priority", "created_at"),
        Index("ix_handoff_conversation", "conversation_id"),
    )


class StaffMessage(Base):
    __tablename__ = "staff_messages"
    id = Column(Integer, primary_key=True)
    handoff_id = Column(Integer, ForeignKey("handoff_requests.id"), nullable=False)
    staff_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    staff_id = Column(Integer, ForeignKey("staff_users.id"))
    action = Column(String(40), nullable=False)  # viewed | claimed | replied | returned | resolved | ...
    handoff_id = Column(Integer, ForeignKey("handoff_requests.id"))
    details = Column(JSON)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class CallbackRequest(Base):
    __tablename__ = "callback_requests"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    handoff_id = Column(Integer, ForeignKey("handoff_requests.id"))
    phone = Column(String(32), nullable=False)
    best_time = Column(String(120), nullable=False)
    consent = Column(Boolean, nullable=False)
    consent_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    status = Column(String(20), nullable=False, default="pending")  # pending | called | closed
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    __table_args__ = (CheckConstraint("consent", name="ck_callback_consent"),)


class HandoffStore:
    """Repository over the handoff tables. One per process; thread-safe sessions."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        kwargs = {"future": True, "pool_pre_ping": True}
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, **kwargs)
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)
        Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def request_handoff(
        self,
        conversation_id: str,
        reason: str,
        tier: Optional[str] = None,
        triggers: Sequence[str] = (),
        message_text: Optional[str] = None,
    ) -> HandoffRequest:
        """Open a request, or raise the priority of the conversation's open one."""
        if tier not in TIER_PRIORITY:
            raise ValueError(f"unknown tier {tier!r}")
        if not conversation_id:
            raise ValueError("conversation_id is required")
        priority = TIER_PRIORITY[tier]
        with self.session() as session:
            open_request = session.execute(
                select(HandoffRequest)
                .where(HandoffRequest.conversation_id == conversation_id)
                .where(HandoffRequest.status.in_([Status.waiting.value, Status.claimed.value]))
                .order_by(HandoffRequest.created_at.desc())
            ).scalars().first()
            if open_request is not None:
                if priority < open_request.priority:
                    # staff must see what made it urgent
                    open_request.priority, open_request.tier, open_request.reason = priority, tier, reason
                    open_request.message_text = message_text
                open_request.trigger_phrases = list(dict.fromkeys([*open_request.trigger_phrases, *triggers]))
                return open_request
            request = HandoffRequest(
                conversation_id=conversation_id,
                reason=reason,
                tier=tier,
                priority=priority,
                trigger_phrases=list(triggers),
                message_text=message_text,
                status=Status.waiting.value,
            )
            session.add(request)
            session.flush()
            return request

    def queue(self) -> List[HandoffRequest]:
        """Open requests, most urgent tier first, then longest waiting."""
        with self.session() as session:
            return list(
                session.execute(
                    select(HandoffRequest)
                    .where(HandoffRequest.status == Status.waiting.value)
                    .order_by(HandoffRequest.priority, HandoffRequest.created_at)
                ).scalars()
            )

    def add_callback(self, conversation_id: str, phone: str, best_time: str, consent: bool) -> CallbackRequest:
        if not consent:
            raise ValueError("a callback is stored only with the visitor's consent")
        with self.session() as session:
            handoff_id = session.execute(
                select(HandoffRequest.id)
                .where(HandoffRequest.conversation_id == conversation_id)
                .where(HandoffRequest.status.in_([Status.waiting.value, Status.claimed.value]))
                .order_by(HandoffRequest.created_at.desc())
            ).scalars().first()
            callback = CallbackRequest(
                conversation_id=conversation_id,
                handoff_id=handoff_id,
                phone=phone,
                best_time=best_time,
                consent=True,
            )
            session.add(callback)
            session.flush()
            return callback

    def callbacks(self) -> List[CallbackRequest]:
        with self.session() as session:
            return list(session.execute(select(CallbackRequest).order_by(CallbackRequest.created_at)).scalars())
