"""Tables of the decision point (migration ``0004_decisions``).

``policy_documents`` keeps every applied organisation policy and roles file as
a version; nothing is overwritten, so what a policy replaced stays readable
(STYLE: lifecycle changes keep what they replaced). The newest version of each
kind is the one in force.
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import JSONType, Time, metadata

policy_documents = sa.Table(
    "policy_documents",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # "policy" | "roles"
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("document", JSONType, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source", sa.String(1024), nullable=False),
    sa.Column("applied_at", Time, nullable=False),
    sa.Column("applied_by", sa.String(320), nullable=False),
)
