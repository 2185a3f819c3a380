"""Proposed changes waiting for a second person (migration ``0006_sod_proposals``).

A change that widens an active agent's access — a charter version that allows
more, a resume after someone else's suspension — is kept here until a person
other than the requester, with a role the governance policy names, approves or
rejects it. Just-in-time requests keep their own table (``jit_grants``), which
already holds them as pending.
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import JSONType, Time, metadata

change_proposals = sa.Table(
    "change_proposals",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("agent", sa.String(63), nullable=False, index=True),
    sa.Column("owner", sa.String(320), nullable=False),
    sa.Column("requested_by", sa.String(320), nullable=False),
    sa.Column("requested_at", Time, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("diff", JSONType, nullable=False),
    sa.Column("base_version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("decided_by", sa.String(320)),
    sa.Column("decided_at", Time),
    sa.Column("decision_reason", sa.Text),
)
