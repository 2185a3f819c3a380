"""Calls waiting for a person's approval (migration ``0008_approve_call_approvals``).

One row per access request: the call an ``approve`` rule held, bound by ``digest``
(SHA-256 of the canonical JSON of agent, action, resource, arguments and the person
the agent acts for) to exactly that call. ``status`` moves pending → approved →
used, or pending → denied; a row past ``expires_at`` is expired whatever it says.
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import JSONType, Time, metadata

call_approvals = sa.Table(
    "call_approvals",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, index=True),
    sa.Column("agent", sa.String(63), nullable=False, index=True),
    sa.Column("action", sa.String(256), nullable=False),
    sa.Column("resource", sa.String(2048), nullable=False),
    sa.Column("on_behalf_of", sa.String(320)),
    sa.Column("arguments", JSONType, nullable=False),
    sa.Column("rule", sa.String(300), nullable=False),
    sa.Column("approvers", JSONType, nullable=False),
    sa.Column("owner", sa.String(320), nullable=False),
    sa.Column("ttl", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("requested_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("decided_by", sa.String(320)),
    sa.Column("decided_at", Time),
    sa.Column("used_at", Time),
)
