"""Indexes for erasing conversations and expired sessions (bot/ops/retention.py).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Erasing a conversation deletes its handoffs' staff messages and callbacks and detaches
their audit entries by handoff_id, and PostgreSQL checks every deleted handoff against
those three foreign keys: without an index each is a scan of the whole table. The
retention job also finds each conversation's last transcript message and the expired
staff sessions; logging a disabled account out deletes its sessions by staff_id.
"""
from typing import Sequence, Union

from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = [
    ("ix_staff_messages_handoff", "staff_messages", ["handoff_id"]),
    ("ix_audit_handoff", "audit_log", ["handoff_id"]),
    ("ix_callback_handoff", "callback_requests", ["handoff_id"]),
    ("ix_transcript_activity", "transcript_messages", ["conversation_id", "created_at"]),
    ("ix_staff_sessions_staff", "staff_sessions", ["staff_id"]),
    ("ix_staff_sessions_expires", "staff_sessions", ["expires_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
