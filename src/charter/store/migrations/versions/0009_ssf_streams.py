"""ssf: Shared Signals streams, their subjects, the SET outbox, received jtis, export cursors

Revision ID: 0009_ssf_streams
Revises: 0001
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009_ssf_streams"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "ssf_streams",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("audience", sa.String(512), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("endpoint_url", sa.String(2048)),
        sa.Column("authorization_header", sa.Text),
        sa.Column("events_requested", JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_ssf_streams_token_hash"),
    )
    op.create_table(
        "ssf_subjects",
        sa.Column("stream_id", sa.String(40), primary_key=True),
        sa.Column("subject_key", sa.String(512), primary_key=True),
        sa.Column("subject", JSON, nullable=False),
        sa.Column("included", sa.Boolean, nullable=False),
    )
    op.create_table(
        "ssf_outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("stream_id", sa.String(40), nullable=False),
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("claims", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", TIME, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("done_at", TIME),
        sa.UniqueConstraint("jti", name="uq_ssf_outbox_jti"),
    )
    op.create_index("ix_ssf_outbox_due", "ssf_outbox", ["stream_id", "status", "next_at"])
    op.create_table(
        "ssf_received",
        sa.Column("issuer", sa.String(512), primary_key=True),
        sa.Column("jti", sa.String(128), primary_key=True),
        sa.Column("received_at", TIME, nullable=False),
    )
    op.create_table(
        "export_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.String(64), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("export_cursors")
    op.drop_table("ssf_received")
    op.drop_index("ix_ssf_outbox_due", table_name="ssf_outbox")
    op.drop_table("ssf_outbox")
    op.drop_table("ssf_subjects")
    op.drop_table("ssf_streams")
