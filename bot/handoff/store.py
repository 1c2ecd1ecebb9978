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
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

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
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker

from bot.storage.migrate import ensure_schema
from bot.storage.engine import database_engine

Base: Any = declarative_base()  # Any: SQLAlchemy 1.4 has no types for its declarative classes

# lower is more urgent; "check": the crisis screen was unsure and asked (below every confirmed crisis)
TIER_PRIORITY = {"emergency": 0, "suicide": 1, "medical": 2, "check": 3, None: 5}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(moment: Optional[datetime]) -> Optional[datetime]:
    """A stored time with its zone: SQLite drops it, PostgreSQL keeps it (UTC either way)."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


class Status(str, enum.Enum):
    waiting = "waiting"
    claimed = "claimed"
    returned = "returned"     # handed back to the bot
    resolved = "resolved"
    cancelled = "cancelled"   # the visitor went back to the bot
    offline = "offline"       # asked outside staff hours: the visitor got the lines (and a callback offer)


OPEN = (Status.waiting.value, Status.claimed.value)


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
    tier = Column(String(20))                            # emergency | suicide | medical | check | None
    priority = Column(Integer, nullable=False)           # 0 most urgent
    trigger_phrases = Column(JSON, nullable=False, default=list)
    crisis_detail = Column(JSON)                         # why the crisis screen escalated (bot/crisis/decide.py)
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
    __table_args__ = (Index("ix_staff_messages_handoff", "handoff_id"),)  # erasing a conversation


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    staff_id = Column(Integer, ForeignKey("staff_users.id"))
    action = Column(String(40), nullable=False)  # viewed | claimed | replied | returned | resolved | ...
    handoff_id = Column(Integer, ForeignKey("handoff_requests.id"))
    details = Column(JSON)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    __table_args__ = (Index("ix_audit_handoff", "handoff_id"),)  # a handoff's entries; detaching them on erasure


class TranscriptMessage(Base):
    """Every message of a conversation, whoever sent it: visitor, bot, staff or system."""
    __tablename__ = "transcript_messages"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False)
    role = Column(String(20), nullable=False)
    text = Column(Text, nullable=False, default="")
    staff_id = Column(Integer, ForeignKey("staff_users.id"))
    staff_name = Column(String(80))
    data = Column(JSON)  # quick replies, escalation payload
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    __table_args__ = (
        CheckConstraint("role in ('visitor', 'bot', 'staff', 'system')", name="ck_transcript_role"),
        Index("ix_transcript_conversation", "conversation_id", "id"),
        Index("ix_transcript_activity", "conversation_id", "created_at"),  # retention: last activity
    )


class StaffSession(Base):
    __tablename__ = "staff_sessions"
    token_hash = Column(String(64), primary_key=True)  # sha256 of the cookie value
    staff_id = Column(Integer, ForeignKey("staff_users.id"), nullable=False)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at = Column(DateTime(timezone=True), nullable=False)
    __table_args__ = (
        Index("ix_staff_sessions_staff", "staff_id"),      # logging a disabled account out
        Index("ix_staff_sessions_expires", "expires_at"),  # retention: expired sessions
    )


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
    __table_args__ = (
        CheckConstraint("consent", name="ck_callback_consent"),
        Index("ix_callback_handoff", "handoff_id"),  # erasing a conversation
    )


class HandoffConflict(Exception):
    """The request is not in a state that allows this (already claimed, already closed)."""


class HandoffStore:
    """Repository over the handoff tables. One per process; thread-safe sessions."""

    def __init__(self, url: str, auto_migrate: Optional[bool] = None) -> None:
        """``auto_migrate``: upgrade a database whose schema is behind (default: HELPLINE_AUTO_MIGRATE,
        else true); when false, a database behind raises bot.storage.migrate.SchemaError."""
        # on SQLite every commit synced: a request must survive a power cut (bot/storage/sqlite.py)
        self.engine: Engine = database_engine(url, synchronous="FULL")
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)
        # the schema comes from the migrations (bot/storage/migrations), never from create_all
        ensure_schema(self.engine, auto_migrate)

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
        live: bool = True,
        detail: Optional[Dict[str, Any]] = None,
    ) -> HandoffRequest:
        """Open a request, or raise the priority of the conversation's open one.

        ``live=False`` (outside staff hours) records it for the staff's review without
        putting the conversation in the live queue, so the bot keeps answering it.
        ``detail``: the crisis screen's reason, language and situation (the newest one as urgent
        as the request, or more, is kept).
        """
        if tier not in TIER_PRIORITY:
            raise ValueError(f"unknown tier {tier!r}")
        if not conversation_id:
            raise ValueError("conversation_id is required")
        priority = TIER_PRIORITY[tier]
        with self.session() as session:
            open_request = session.execute(
                select(HandoffRequest)
                .where(HandoffRequest.conversation_id == conversation_id)
                .where(HandoffRequest.status.in_(OPEN))
                .order_by(HandoffRequest.created_at.desc())
            ).scalars().first()
            if open_request is not None:
                if priority < open_request.priority:
                    # staff must see what made it urgent
                    open_request.priority, open_request.tier, open_request.reason = priority, tier, reason
                    open_request.message_text = message_text
                if detail and priority <= open_request.priority:
                    open_request.crisis_detail = detail
                open_request.trigger_phrases = list(dict.fromkeys([*open_request.trigger_phrases, *triggers]))
                return open_request
            request = HandoffRequest(
                conversation_id=conversation_id,
                reason=reason,
                tier=tier,
                priority=priority,
                trigger_phrases=list(triggers),
                message_text=message_text,
                crisis_detail=detail,
                status=Status.waiting.value if live else Status.offline.value,
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
                .where(HandoffRequest.status.in_((*OPEN, Status.offline.value)))
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

    def mark_called(self, callback_id: int) -> CallbackRequest:
        """Staff have phoned the visitor back: the request leaves the list (once only)."""
        with self.session() as session:
            done = session.execute(
                update(CallbackRequest)
                .where(CallbackRequest.id == callback_id, CallbackRequest.status == "pending")
                .values(status="called")
                .execution_options(synchronize_session=False)
            )
            callback = session.get(CallbackRequest, callback_id)
            if callback is None:
                raise LookupError(f"no callback request {callback_id}")
            if done.rowcount != 1:
                raise HandoffConflict(f"this callback is already {callback.status}")
            return callback

    # -- live handoff ---------------------------------------------------------------

    def open_handoff(self, conversation_id: str) -> Optional[HandoffRequest]:
        """The conversation's request that is waiting for or talking to staff, if any."""
        with self.session() as session:
            return session.execute(
                select(HandoffRequest)
                .where(HandoffRequest.conversation_id == conversation_id)
                .where(HandoffRequest.status.in_(OPEN))
                .order_by(HandoffRequest.created_at.desc())
            ).scalars().first()

    def get_handoff(self, handoff_id: int) -> Optional[HandoffRequest]:
        with self.session() as session:
            return session.get(HandoffRequest, handoff_id)

    def live_queue(self) -> List[HandoffRequest]:
        """Waiting and claimed requests, most urgent tier first, then longest waiting."""
        with self.session() as session:
            return list(
                session.execute(
                    select(HandoffRequest)
                    .where(HandoffRequest.status.in_(OPEN))
                    .order_by(HandoffRequest.priority, HandoffRequest.created_at)
                ).scalars()
            )

    def queue_position(self, request: HandoffRequest) -> Optional[int]:
        """1 for the next to be served; None once claimed or closed."""
        if request.status != Status.waiting.value:
            return None
        with self.session() as session:
            ahead = session.execute(
                select(func.count(HandoffRequest.id))
                .where(HandoffRequest.status == Status.waiting.value)
                .where(or_(
                    HandoffRequest.priority < request.priority,
                    (HandoffRequest.priority == request.priority) & (HandoffRequest.created_at < request.created_at),
                ))
            ).scalar_one()
        return ahead + 1

    def claim(self, handoff_id: int, staff_id: int) -> HandoffRequest:
        """Claim a waiting request. Two staff can never both succeed: one conditional UPDATE."""
        with self.session() as session:
            result = session.execute(
                update(HandoffRequest)
                .where(HandoffRequest.id == handoff_id, HandoffRequest.status == Status.waiting.value)
                .values(status=Status.claimed.value, claimed_by=staff_id, claimed_at=utcnow(), updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise HandoffConflict(self._conflict(session, handoff_id))
            return session.get(HandoffRequest, handoff_id, populate_existing=True)

    def assign(self, handoff_id: int, staff_id: int) -> HandoffRequest:
        """A supervisor gives an open request to a staff member."""
        with self.session() as session:
            result = session.execute(
                update(HandoffRequest)
                .where(HandoffRequest.id == handoff_id, HandoffRequest.status.in_(OPEN))
                .values(status=Status.claimed.value, claimed_by=staff_id, claimed_at=utcnow(), updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise HandoffConflict(self._conflict(session, handoff_id))
            return session.get(HandoffRequest, handoff_id, populate_existing=True)

    def close(self, handoff_id: int, status: Status, note: Optional[str] = None) -> HandoffRequest:
        """Hand back to the bot (returned), resolve (also after a hand-back) or cancel."""
        allowed = {
            Status.returned: OPEN,
            Status.cancelled: OPEN,
            Status.resolved: (*OPEN, Status.returned.value, Status.cancelled.value, Status.offline.value),
        }[status]
        values: Dict[str, Any] = {"status": status.value, "updated_at": utcnow()}
        if status is Status.resolved:
            values.update(resolved_at=utcnow(), resolution_note=note)
        with self.session() as session:
            result = session.execute(
                update(HandoffRequest)
                .where(HandoffRequest.id == handoff_id, HandoffRequest.status.in_(allowed))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise HandoffConflict(self._conflict(session, handoff_id))
            return session.get(HandoffRequest, handoff_id, populate_existing=True)

    @staticmethod
    def _conflict(session: Session, handoff_id: int) -> str:
        request = session.get(HandoffRequest, handoff_id, populate_existing=True)
        if request is None:
            return "no such conversation"
        if request.status == Status.claimed.value:
            claimer = session.get(StaffUser, request.claimed_by)
            return f"already claimed by {claimer.display_name if claimer else 'someone else'}"
        return f"this conversation is {request.status}"

    # -- transcript and audit -----------------------------------------------------

    def add_message(self, conversation_id: str, role: str, text: str, *, staff: Optional[StaffUser] = None,
                    data: Optional[dict] = None) -> TranscriptMessage:
        return self.add_messages([(conversation_id, role, text, staff, data)])[0]

    def add_messages(self, rows: Sequence[Tuple[str, str, str, Optional[StaffUser], Optional[dict]]]
                     ) -> List[TranscriptMessage]:
        """Transcript messages (conversation id, role, text, staff, data), in one transaction."""
        with self.session() as session:
            messages = [TranscriptMessage(
                conversation_id=conversation_id, role=role, text=text or "", data=data or None,
                staff_id=staff.id if staff else None, staff_name=staff.display_name if staff else None,
            ) for conversation_id, role, text, staff, data in rows]
            session.add_all(messages)
            session.flush()
            return messages

    def transcript(self, conversation_id: str) -> List[TranscriptMessage]:
        with self.session() as session:
            return list(session.execute(
                select(TranscriptMessage)
                .where(TranscriptMessage.conversation_id == conversation_id)
                .order_by(TranscriptMessage.id)
            ).scalars())

    def audit(self, staff_id: Optional[int], action: str, handoff_id: Optional[int] = None, **details) -> None:
        with self.session() as session:
            session.add(AuditEntry(staff_id=staff_id, action=action, handoff_id=handoff_id, details=details or None))

    def audit_entries(self, handoff_id: Optional[int] = None) -> List[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if handoff_id is not None:
            query = query.where(AuditEntry.handoff_id == handoff_id)
        with self.session() as session:
            return list(session.execute(query).scalars())

    # -- staff accounts and console sessions --------------------------------------

    def add_staff(self, username: str, display_name: str, password_hash: str, role: str = "staff") -> StaffUser:
        with self.session() as session:
            if session.execute(select(StaffUser.id).where(StaffUser.username == username)).first():
                raise ValueError(f"a staff account named {username!r} already exists")
            user = StaffUser(username=username, display_name=display_name, password_hash=password_hash, role=role)
            session.add(user)
            session.flush()
            return user

    def staff_by_username(self, username: str) -> Optional[StaffUser]:
        with self.session() as session:
            return session.execute(select(StaffUser).where(StaffUser.username == username)).scalars().first()

    def get_staff(self, staff_id: int) -> Optional[StaffUser]:
        with self.session() as session:
            return session.get(StaffUser, staff_id)

    def list_staff(self) -> List[StaffUser]:
        with self.session() as session:
            return list(session.execute(select(StaffUser).order_by(StaffUser.username)).scalars())

    def update_staff(self, staff_id: int, **values) -> None:
        with self.session() as session:
            session.execute(update(StaffUser).where(StaffUser.id == staff_id).values(**values))
            if values.get("active") is False:  # a disabled account is logged out everywhere
                session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))

    def create_session(self, staff_id: int, token_hash: str, csrf_token: str, expires_at: datetime) -> None:
        with self.session() as session:
            session.add(StaffSession(token_hash=token_hash, staff_id=staff_id, csrf_token=csrf_token,
                                     expires_at=expires_at))

    def get_session(self, token_hash: str) -> Optional[tuple]:
        """(session, active user) for an unexpired session, else None."""
        with self.session() as session:
            row = session.execute(
                select(StaffSession, StaffUser)
                .join(StaffUser, StaffUser.id == StaffSession.staff_id)
                .where(StaffSession.token_hash == token_hash)
            ).first()
            if row is None:
                return None
            staff_session, user = row
            expires = aware(staff_session.expires_at)
            if expires is None or expires <= utcnow() or not user.active:
                session.delete(staff_session)
                return None
            return staff_session, user

    def delete_session(self, token_hash: str) -> None:
        with self.session() as session:
            session.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash))
