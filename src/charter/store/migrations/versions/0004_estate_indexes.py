"""estate indexes: look identities up by their native id (ARN, client id, e-mail)

Attribution links an identity to the one it assumes (an IRSA role ARN, a GKE
service account e-mail, a bot's app id) by that identity's native id; without
an index each link scans the whole identities table.

Revision ID: 0004_estate_indexes
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_estate_indexes"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_identities_native_id", "identities", ["native_id"])


def downgrade() -> None:
    op.drop_index("ix_identities_native_id", table_name="identities")
