"""Scheduled discovery's state: one row per configured source, and the files a watch ingested.

On the shared :data:`charter.store.schema.metadata`; created by migration
``0008_sched_discovery_sources``.

- ``discovery_sources``: per source (its name in the policy's ``discovery`` section),
  when it last ran, succeeded and failed (and why), what the last success saw and
  changed, when it runs next, and how many times in a row it failed. Credentials are
  never here: the policy names environment variables, the worker reads them.
- ``discovery_files``: per watched source, the SHA-256 of every export file it
  ingested, so a file is read once per content (and its path, size and modification
  time, so an unchanged file is not even hashed again).
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import Time, metadata

discovery_sources = sa.Table(
    "discovery_sources",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("describe", sa.String(600), nullable=False),
    sa.Column("last_attempt_at", Time),
    sa.Column("last_success_at", Time),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", Time),
    sa.Column("records_seen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("changes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("runs", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("next_run_at", Time),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
)

discovery_files = sa.Table(
    "discovery_files",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("ingested_at", Time, nullable=False),
)
