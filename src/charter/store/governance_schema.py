"""Governance tables: findings and their runs, the activity rollup, workflows, leases.

On the shared :data:`charter.store.schema.metadata`; created by migration
``0005_governance``. Imported by the governance services (not by ``schema.py``).

- ``findings``: one row per (rule, entity), id = a hash of both, so a
  re-evaluation finds the same row again; status follows the finding lifecycle.
- ``finding_runs``: one row per evaluation: what the store looked like (its
  change fingerprint) and what changed, so ``charter findings`` knows whether
  it must evaluate first.
- ``activity_rollup``: activities aggregated per (agent, identity, action,
  resource, allowed, source) up to a settled watermark, so evaluations do not
  rescan millions of activity rows.
- ``review_campaigns`` / ``review_items``: access reviews.
- ``rotations``, ``governance_tasks``: rotation schedule and the tasks filed
  for what Charter cannot do itself (decommissioning, external rotations).
- ``jit_grants``: time-boxed extra capabilities.
- ``notices``: reminders and warnings to people; ``key`` is unique, which is
  what makes every notice idempotent across workers.
- ``worker_leases``: which worker runs which job, until when (compare-and-set).
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import JSONType, Time, metadata

findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("entity_id", sa.String(512), nullable=False),
    sa.Column("entity_name", sa.String(512), nullable=False),
    sa.Column("identifiers", JSONType, nullable=False),
    # agent/owner/system are filtered and grouped on, but a finding table is written in bulk
    # by every evaluation: one index (status) keeps writes cheap; the rest scan fast enough.
    sa.Column("agent", sa.String(63)),
    sa.Column("owner", sa.String(320)),
    sa.Column("system", sa.String(256)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("evidence", JSONType, nullable=False),
    sa.Column("suggestion", JSONType),
    sa.Column("digest", sa.String(32), nullable=False),
    sa.Column("first_seen", Time, nullable=False),
    sa.Column("last_changed", Time, nullable=False),
    sa.Column("resolved_at", Time),
    sa.Column("status_reason", sa.Text),
    sa.Column("status_by", sa.String(320)),
    sa.Column("status_until", Time),
)

finding_runs = sa.Table(
    "finding_runs",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("finished_at", Time, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("max_activity_id", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("counts", JSONType, nullable=False),
    sa.Column("actor", sa.String(320), nullable=False),
)

activity_rollup = sa.Table(
    "activity_rollup",
    metadata,
    sa.Column("agent", sa.String(128), primary_key=True),
    sa.Column("identity", sa.String(512), primary_key=True),  # "" when none
    sa.Column("action", sa.String(256), primary_key=True),
    sa.Column("resource", sa.String(1024), primary_key=True),
    sa.Column("allowed", sa.SmallInteger, primary_key=True),  # 1 allowed, 0 denied, -1 observed
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("first_time", Time, nullable=False),
    sa.Column("last_time", Time, nullable=False),
)

review_campaigns = sa.Table(
    "review_campaigns",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("scope", sa.String(400), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("due_at", Time, nullable=False),
    sa.Column("suspend_unreviewed", sa.Boolean, nullable=False),
    sa.Column("closed_at", Time),
)

review_items = sa.Table(
    "review_items",
    metadata,
    sa.Column(
        "campaign",
        sa.String(32),
        sa.ForeignKey("review_campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("agent", sa.String(63), primary_key=True),
    sa.Column("reviewer", sa.String(320), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("snapshot", JSONType, nullable=False),
    sa.Column("charter_version", sa.Integer, nullable=False),
    sa.Column("decided_at", Time),
    sa.Column("decided_by", sa.String(320)),
    sa.Column("reason", sa.Text),
    sa.Column("new_charter_version", sa.Integer),
    sa.Index("ix_review_items_agent", "agent"),
)

rotations = sa.Table(
    "rotations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("credential", sa.String(512), nullable=False, index=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("identity", sa.String(512)),
    sa.Column("agent", sa.String(63)),
    sa.Column("owner", sa.String(320)),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("due_at", Time, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("started_at", Time),
    sa.Column("finished_at", Time),
    sa.Column("steps", JSONType, nullable=False),
    sa.Column("note", sa.Text),
)

governance_tasks = sa.Table(
    "governance_tasks",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("agent", sa.String(63), index=True),
    sa.Column("target_type", sa.String(16), nullable=False),
    sa.Column("target", sa.String(512), nullable=False),
    sa.Column("system", sa.String(256)),
    sa.Column("assignee", sa.String(320)),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("steps", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("done_at", Time),
    sa.Column("done_by", sa.String(320)),
)

jit_grants = sa.Table(
    "jit_grants",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("agent", sa.String(63), nullable=False, index=True),
    sa.Column("action", sa.String(256), nullable=False),
    sa.Column("resource", sa.String(256), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("duration_s", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("requested_by", sa.String(320), nullable=False),
    sa.Column("requested_at", Time, nullable=False),
    sa.Column("decided_by", sa.String(320)),
    sa.Column("decided_at", Time),
    sa.Column("decision_reason", sa.Text),
    sa.Column("starts_at", Time),
    sa.Column("ends_at", Time),
)

notices = sa.Table(
    "notices",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("key", sa.String(400), nullable=False, unique=True),
    sa.Column("recipient", sa.String(320), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("agent", sa.String(63)),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

worker_leases = sa.Table(
    "worker_leases",
    metadata,
    sa.Column("job", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128)),
    sa.Column("expires_at", Time),
    sa.Column("last_run_at", Time),
    sa.Column("last_result", JSONType),
)
