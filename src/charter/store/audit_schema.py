"""The audit chain's anchors (migration ``0006_audit_keyed``).

Two rows beside ``events``: ``keyed_from`` (the first event linked with the
chain key, and the link it continues from) and ``head`` (the newest event and
its link). Each is sealed with the chain key once keyed events exist, so moving
the boundary or lowering the head needs the master key.
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import metadata

audit_anchors = sa.Table(
    "audit_anchors",
    metadata,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32)),
    sa.Column("mac", sa.String(64)),
)
