"""The estate capability's additions to the schema (migration ``0004_estate_indexes``).

The estate tables themselves are in ``store/schema.py``; this declares the
index the migration adds, so the metadata matches the database.
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store import schema

identities_native_id = sa.Index("ix_identities_native_id", schema.identities.c.native_id)
