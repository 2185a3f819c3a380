"""Shared Signals and SIEM export tables (migration ``0009_ssf_streams``).

``ssf_streams``: one per receiver (SSF 1.0 stream): its audience, delivery
method (push to ``endpoint_url`` or poll), the events it asked for, its status,
and the SHA-256 of the bearer token Charter issued it (the token itself is
shown once). ``ssf_subjects``: subjects added to (``included``) or removed from
a stream (default: every subject). ``ssf_outbox``: one SET per stream per
signal, written in the transaction of the change it reports: pushed by the
background sender (``attempts``, ``next_at``, ``last_error``) or held until a
poll acknowledges it (``status``: ``pending``, ``delivered``, ``acked``,
``failed``). ``ssf_received``: the ``jti`` of every SET accepted from an IdP,
kept until it would be too old anyway (replay). ``export_cursors``: how far the
SIEM export got in each source (activities id, findings change time).
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import JSONType, Time, metadata

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

ssf_streams = sa.Table(
    "ssf_streams",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("audience", sa.String(512), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("endpoint_url", sa.String(2048)),
    sa.Column("authorization_header", sa.Text),
    sa.Column("events_requested", JSONType, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

ssf_subjects = sa.Table(
    "ssf_subjects",
    metadata,
    sa.Column("stream_id", sa.String(40), primary_key=True),
    sa.Column("subject_key", sa.String(512), primary_key=True),
    sa.Column("subject", JSONType, nullable=False),
    sa.Column("included", sa.Boolean, nullable=False),
)

ssf_outbox = sa.Table(
    "ssf_outbox",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("stream_id", sa.String(40), nullable=False),
    sa.Column("jti", sa.String(64), nullable=False, unique=True),
    sa.Column("claims", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_at", Time, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("done_at", Time),
    sa.Index("ix_ssf_outbox_due", "stream_id", "status", "next_at"),
)

ssf_received = sa.Table(
    "ssf_received",
    metadata,
    sa.Column("issuer", sa.String(512), primary_key=True),
    sa.Column("jti", sa.String(128), primary_key=True),
    sa.Column("received_at", Time, nullable=False),
)

export_cursors = sa.Table(
    "export_cursors",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.String(64), nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)
