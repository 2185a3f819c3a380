"""approvals bound to the exact call: calls an approve rule holds for a person's approval

Revision ID: 0008_approve_call_approvals
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_approve_call_approvals"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_approvals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=63), nullable=False),
        sa.Column("action", sa.String(length=256), nullable=False),
        sa.Column("resource", sa.String(length=2048), nullable=False),
        sa.Column("on_behalf_of", sa.String(length=320), nullable=True),
        sa.Column("arguments", JSON, nullable=False),
        sa.Column("rule", sa.String(length=300), nullable=False),
        sa.Column("approvers", JSON, nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("used_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_approvals")),
    )
    op.create_index(op.f("ix_call_approvals_digest"), "call_approvals", ["digest"])
    op.create_index(op.f("ix_call_approvals_agent"), "call_approvals", ["agent"])
    op.create_index(op.f("ix_call_approvals_status"), "call_approvals", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_call_approvals_status"), table_name="call_approvals")
    op.drop_index(op.f("ix_call_approvals_agent"), table_name="call_approvals")
    op.drop_index(op.f("ix_call_approvals_digest"), table_name="call_approvals")
    op.drop_table("call_approvals")
