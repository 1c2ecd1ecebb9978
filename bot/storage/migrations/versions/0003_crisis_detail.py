"""Why the crisis screen escalated: the rule or the classifier's score, language and situation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

The console's summary shows staff the reason for each crisis handoff (bot/crisis/decide.py):
which rule matched, or the classifier's score and the nearest examples, and the visitor's
language. A nullable JSON column: older rows simply have no reason recorded.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("handoff_requests", sa.Column("crisis_detail", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("handoff_requests", "crisis_detail")
