"""Indexes the console's queries need on tables other capabilities own (migration
``0002_console_indexes``).

The overview counts credentials first seen this week and those expiring in the
next 30 days; on a million credentials those are range scans only with an index
on each column. Declared here so the metadata matches the migrated schema.
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store import schema

credentials_first_seen = sa.Index("ix_credentials_first_seen", schema.credentials.c.first_seen)
credentials_expires_at = sa.Index("ix_credentials_expires_at", schema.credentials.c.expires_at)
