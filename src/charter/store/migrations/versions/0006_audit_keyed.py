"""audit: anchors of the keyed chain (boundary and sealed head)

The boundary is recorded unsealed at the current head; the first append with
the chain key seals it where the keyed segment really begins. Events already
written stay as the legacy (plain SHA-256) segment.

Revision ID: 0006_audit
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_audit"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    anchors = op.create_table(
        "audit_anchors",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("mac", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_anchors")),
    )
    events = sa.table("events", sa.column("seq", sa.BigInteger), sa.column("hash", sa.String))
    last = (
        op.get_bind()
        .execute(sa.select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1))
        .first()
    )
    seq, link = (int(last.seq), str(last.hash)) if last else (0, GENESIS_HASH)
    op.bulk_insert(
        anchors,
        [
            {"name": "keyed_from", "seq": seq + 1, "hash": link},
            {"name": "head", "seq": seq, "hash": link},
        ],
    )


def downgrade() -> None:
    op.drop_table("audit_anchors")
