"""Deliveries: one row per notice or task, per channel, per address (migration 0008_deliver).

The unique ``(item_type, item_id, channel, address)`` is what makes delivery
idempotent: routing the same notice twice inserts nothing, and a row is sent
only by the worker that claimed it (``claimed_by`` until ``claimed_until``).
``status``: ``queued`` (waiting, possibly after errors — ``last_error`` says
which), ``sent``, ``failed`` (attempts exhausted) or ``unrouted`` (no route
matched: a marker so the item is not routed again). Issue channels keep the
issue's ``reference`` (its URL or key) and ``external_state``.
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import Time, metadata

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("item_type", sa.String(16), nullable=False),
    sa.Column("item_id", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("address", sa.String(320), nullable=False),
    sa.Column("digest", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_at", Time, nullable=False),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("claimed_until", Time),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", Time),
    sa.Column("reference", sa.String(512)),
    sa.Column("external_state", sa.String(16)),
    sa.Column("created_at", Time, nullable=False),
    sa.UniqueConstraint("item_type", "item_id", "channel", "address", name="uq_deliveries_item"),
    sa.Index("ix_deliveries_due", "status", "next_at"),
)
