"""deliveries: notices and tasks sent through channels, one row per item, channel, address

Revision ID: 0008_deliver_deliveries
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_deliver_deliveries"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("item_type", sa.String(16), nullable=False),
        sa.Column("item_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("digest", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", TIME, nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("claimed_until", TIME),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", TIME),
        sa.Column("reference", sa.String(512)),
        sa.Column("external_state", sa.String(16)),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint(
            "item_type", "item_id", "channel", "address", name="uq_deliveries_item"
        ),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
