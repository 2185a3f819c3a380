"""The relational schema, as SQLAlchemy Core tables on one MetaData.

Alembic migrations in ``store/migrations`` create and evolve it; capabilities
that add tables add their own migration (``alembic upgrade heads`` applies
every branch).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("manager", sa.String(320)),
    sa.Column("groups", JSONType, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # other names the person has in identity providers (opaque subject ids, SCIM externalId)
    sa.Column("external_ids", JSONType),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("owner", sa.String(320), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("charter_version", sa.Integer, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("labels", JSONType, nullable=False),
    sa.Column("expires", sa.Date),
    sa.Column("pending_owner", sa.String(320)),
    sa.Column("pending_owner_since", Time),
    sa.Column("origin", sa.String(16), nullable=False, server_default="registered"),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

charter_versions = sa.Table(
    "charter_versions",
    metadata,
    sa.Column(
        "agent", sa.String(63), sa.ForeignKey("agents.name", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("document", JSONType, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("time", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("target", sa.String(512), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_events_target", "target_type", "target"),
)

systems = sa.Table(
    "systems",
    metadata,
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
)


def _seen_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("first_seen", Time, nullable=False),
        sa.Column("last_seen", Time, nullable=False),
        sa.Column("gone_at", Time),
    ]


identities = sa.Table(
    "identities",
    metadata,
    sa.Column("id", sa.String(512), primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("account", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("system", sa.String(256), nullable=False, index=True),
    sa.Column("native_id", sa.String(512), nullable=False),
    sa.Column("owner", sa.String(320), index=True),
    sa.Column("owner_confidence", sa.Float, nullable=False),
    sa.Column("agent", sa.String(63), index=True),
    sa.Column("ai_related", sa.Boolean, nullable=False),
    sa.Column("created_at", Time),
    sa.Column("last_used_at", Time),
    sa.Column("evidence", JSONType, nullable=False),
    sa.Column("properties", JSONType, nullable=False),
    *_seen_columns(),
    sa.Index("ix_identities_source_account", "source", "account"),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.String(512), primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("account", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
    sa.Column("preview", sa.String(128), nullable=False),
    sa.Column("identity", sa.String(512), index=True),
    sa.Column("agent", sa.String(63), index=True),
    sa.Column("created_at", Time),
    sa.Column("expires_at", Time),
    sa.Column("last_used_at", Time),
    sa.Column("last_rotated_at", Time),
    sa.Column("location", sa.Text),
    sa.Column("properties", JSONType, nullable=False),
    *_seen_columns(),
    sa.Index("ix_credentials_source_account", "source", "account"),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("id", sa.String(512), primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("account", sa.String(256), nullable=False),
    sa.Column("subject_type", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(512), nullable=False, index=True),
    sa.Column("system", sa.String(256), nullable=False, index=True),
    sa.Column("resource", sa.String(1024), nullable=False),
    sa.Column("permissions", JSONType, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("properties", JSONType, nullable=False),
    *_seen_columns(),
    sa.Index("ix_grants_source_account", "source", "account"),
)

activities = sa.Table(
    "activities",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("time", Time, nullable=False),
    sa.Column("agent", sa.String(128), nullable=False),
    sa.Column("identity", sa.String(512)),
    sa.Column("on_behalf_of", sa.String(320)),
    sa.Column("action", sa.String(256), nullable=False),
    sa.Column("resource", sa.String(1024), nullable=False),
    sa.Column("allowed", sa.Boolean),
    sa.Column("reasons", JSONType, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("latency_us", sa.Float),
    sa.Column("context", JSONType),
    sa.Index("ix_activities_agent_time", "agent", "time"),
    sa.Index("ix_activities_time", "time"),
)
