"""What the console adds to the store: indexes its queries need on tables other
capabilities own, and a table of precomputed aggregates (migrations
``0002_console_indexes`` and ``0002_console_summaries``).

The overview counts credentials first seen this week and those expiring in the
next 30 days; on a million credentials those are range scans only with an index
on each column. Declared here so the metadata matches the migrated schema.
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store import schema
from charter.store.governance_schema import findings

credentials_first_seen = sa.Index("ix_credentials_first_seen", schema.credentials.c.first_seen)
credentials_expires_at = sa.Index("ix_credentials_expires_at", schema.credentials.c.expires_at)

#: Findings in a worst-first page: one index range per severity (see governance_queries).
findings_status_severity = sa.Index(
    "ix_findings_status_severity", findings.c.status, findings.c.severity, findings.c.id
)

#: Aggregates the overview shows, recomputed only when the findings change
#: (their version is the newest evaluation run and the newest status change).
console_summaries = sa.Table(
    "console_summaries",
    schema.metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("computed_at", schema.Time, nullable=False),
    sa.Column("data", schema.JSONType, nullable=False),
    sa.Column("refreshing_until", schema.Time),
)
