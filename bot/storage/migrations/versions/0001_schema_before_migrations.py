"""The schema before migrations: the seven tables as create_all made them.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

Databases made by earlier releases (create_all, no alembic_version) are stamped at this
revision by bot.storage.migrate. Each table is made only if it is missing: a database from a
build that had fewer tables gets the missing ones, as create_all would have added them.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def staff_users() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=80), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role in ('staff', 'supervisor')", name="ck_staff_role"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )


def handoff_requests() -> None:
    op.create_table(
        "handoff_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("trigger_phrases", sa.JSON(), nullable=False),
        sa.Column("message_text", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["claimed_by"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoff_queue", "handoff_requests", ["status", "priority", "created_at"])
    op.create_index("ix_handoff_conversation", "handoff_requests", ["conversation_id"])


def staff_messages() -> None:
    op.create_table(
        "staff_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoff_requests.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoff_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def transcript_messages() -> None:
    op.create_table(
        "transcript_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("staff_name", sa.String(length=80), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role in ('visitor', 'bot', 'staff', 'system')", name="ck_transcript_role"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_transcript_conversation", "transcript_messages", ["conversation_id", "id"])


def staff_sessions() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )


def callback_requests() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("best_time", sa.String(length=120), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("consent", name="ck_callback_consent"),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoff_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_callback_requests_conversation_id", "callback_requests", ["conversation_id"])


# in the order of their foreign keys
TABLES = [staff_users, handoff_requests, staff_messages, audit_log, transcript_messages, staff_sessions,
          callback_requests]


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for create in TABLES:
        if create.__name__ not in present:
            create()


def downgrade() -> None:
    for create in reversed(TABLES):
        op.drop_table(create.__name__)  # a table's indexes go with it
