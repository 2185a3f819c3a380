"""people external ids: the names a person has in identity providers

An AuthZEN policy enforcement point names a person by whatever its IdP calls
them (an opaque subject id, a SCIM ``externalId``); the directory keeps those
names so the decision point can find the person.

Revision ID: 0007_people_external_ids
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_people_external_ids"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "people",
        sa.Column(
            "external_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
        ),
    )


def downgrade() -> None:
    op.drop_column("people", "external_ids")
