"""console: indexes for the overview's credential counts (first seen, expiring)

Revision ID: 0002_console_indexes
Revises: 0002_auth
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_console_indexes"
down_revision: str | Sequence[str] | None = "0002_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_credentials_first_seen", "credentials", ["first_seen"])
    op.create_index("ix_credentials_expires_at", "credentials", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_credentials_expires_at", table_name="credentials")
    op.drop_index("ix_credentials_first_seen", table_name="credentials")
