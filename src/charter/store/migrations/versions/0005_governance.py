"""governance: findings and runs, activity rollup, reviews, rotations, tasks, JIT grants, notices,
leases

Revision ID: 0005_governance
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_governance"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=512), nullable=False),
        sa.Column("entity_name", sa.String(length=512), nullable=False),
        sa.Column("identifiers", JSON, nullable=False),
        sa.Column("agent", sa.String(length=63), nullable=True),
        sa.Column("owner", sa.String(length=320), nullable=True),
        sa.Column("system", sa.String(length=256), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("suggestion", JSON, nullable=True),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("first_seen", TIME, nullable=False),
        sa.Column("last_changed", TIME, nullable=False),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("status_by", sa.String(length=320), nullable=True),
        sa.Column("status_until", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    op.create_index(op.f("ix_findings_status"), "findings", ["status"], unique=False)
    op.create_table(
        "finding_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("max_activity_id", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding_runs")),
    )
    op.create_table(
        "activity_rollup",
        sa.Column("agent", sa.String(length=128), nullable=False),
        sa.Column("identity", sa.String(length=512), nullable=False),
        sa.Column("action", sa.String(length=256), nullable=False),
        sa.Column("resource", sa.String(length=1024), nullable=False),
        sa.Column("allowed", sa.SmallInteger(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_time", TIME, nullable=False),
        sa.Column("last_time", TIME, nullable=False),
        sa.PrimaryKeyConstraint(
            "agent",
            "identity",
            "action",
            "resource",
            "allowed",
            "source",
            name=op.f("pk_activity_rollup"),
        ),
    )
    op.create_table(
        "review_campaigns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("suspend_unreviewed", sa.Boolean(), nullable=False),
        sa.Column("closed_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_campaigns")),
    )
    op.create_index(
        op.f("ix_review_campaigns_status"), "review_campaigns", ["status"], unique=False
    )
    op.create_table(
        "review_items",
        sa.Column("campaign", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=63), nullable=False),
        sa.Column("reviewer", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snapshot", JSON, nullable=False),
        sa.Column("charter_version", sa.Integer(), nullable=False),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("new_charter_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign"],
            ["review_campaigns.id"],
            name=op.f("fk_review_items_campaign_review_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign", "agent", name=op.f("pk_review_items")),
    )
    op.create_index("ix_review_items_agent", "review_items", ["agent"], unique=False)
    op.create_index(op.f("ix_review_items_reviewer"), "review_items", ["reviewer"], unique=False)
    op.create_table(
        "rotations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("credential", sa.String(length=512), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("identity", sa.String(length=512), nullable=True),
        sa.Column("agent", sa.String(length=63), nullable=True),
        sa.Column("owner", sa.String(length=320), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotations")),
    )
    op.create_index(op.f("ix_rotations_credential"), "rotations", ["credential"], unique=False)
    op.create_index(op.f("ix_rotations_status"), "rotations", ["status"], unique=False)
    op.create_table(
        "governance_tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=63), nullable=True),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("system", sa.String(length=256), nullable=True),
        sa.Column("assignee", sa.String(length=320), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("done_at", TIME, nullable=True),
        sa.Column("done_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_tasks")),
    )
    op.create_index(op.f("ix_governance_tasks_agent"), "governance_tasks", ["agent"], unique=False)
    op.create_index(
        op.f("ix_governance_tasks_status"), "governance_tasks", ["status"], unique=False
    )
    op.create_table(
        "jit_grants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=63), nullable=False),
        sa.Column("action", sa.String(length=256), nullable=False),
        sa.Column("resource", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column("requested_at", TIME, nullable=False),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("starts_at", TIME, nullable=True),
        sa.Column("ends_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jit_grants")),
    )
    op.create_index(op.f("ix_jit_grants_status"), "jit_grants", ["status"], unique=False)
    op.create_index(op.f("ix_jit_grants_agent"), "jit_grants", ["agent"], unique=False)
    op.create_table(
        "notices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=63), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("key", name=op.f("uq_notices_key")),
    )
    op.create_index(op.f("ix_notices_recipient"), "notices", ["recipient"], unique=False)
    op.create_table(
        "worker_leases",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("last_run_at", TIME, nullable=True),
        sa.Column("last_result", JSON, nullable=True),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_worker_leases")),
    )


def downgrade() -> None:
    op.drop_table("worker_leases")
    op.drop_table("notices")
    op.drop_table("jit_grants")
    op.drop_table("governance_tasks")
    op.drop_table("rotations")
    op.drop_table("review_items")
    op.drop_table("review_campaigns")
    op.drop_table("activity_rollup")
    op.drop_table("finding_runs")
    op.drop_table("findings")
