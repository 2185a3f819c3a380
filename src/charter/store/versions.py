"""Change counters: how running processes learn that charters or policy changed.

Writers bump a counter in ``meta`` inside their transaction. Readers compare the
counter cheaply (SQLite) or listen for the ``charter_changes`` notification that
PostgreSQL delivers on commit (LISTEN/NOTIFY), then reload.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.store import schema

NOTIFY_CHANNEL = "charter_changes"


def bump_version(connection: Connection, key: str) -> None:
    """Increment ``key``'s counter; on PostgreSQL also NOTIFY (delivered at commit)."""
    updated = connection.execute(
        sa.update(schema.meta).where(schema.meta.c.key == key).values(value=schema.meta.c.value + 1)
    )
    if updated.rowcount == 0:
        connection.execute(sa.insert(schema.meta).values(key=key, value=1))
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_notify(:channel, :key)"), {"channel": NOTIFY_CHANNEL, "key": key}
        )


def read_version(connection: Connection, key: str) -> int:
    value = connection.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.key == key)
    ).scalar()
    return int(value or 0)


def read_versions(connection: Connection) -> dict[str, int]:
    """All counters at once (one query: what a cache checks before a decision batch)."""
    return {row.key: int(row.value) for row in connection.execute(sa.select(schema.meta))}
