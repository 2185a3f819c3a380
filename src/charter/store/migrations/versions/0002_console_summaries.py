"""console: precomputed finding aggregates, and an index for worst-first finding pages

Revision ID: 0002_console_summaries
Revises: 0002_console_indexes
Depends on: 0005_governance (the findings table)
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_console_summaries"
down_revision: str | Sequence[str] | None = "0002_console_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0005_governance"

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_summaries",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("computed_at", TIME, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("refreshing_until", TIME, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_console_summaries")),
    )
    op.create_index("ix_findings_status_severity", "findings", ["status", "severity", "id"])


def downgrade() -> None:
    op.drop_index("ix_findings_status_severity", table_name="findings")
    op.drop_table("console_summaries")
