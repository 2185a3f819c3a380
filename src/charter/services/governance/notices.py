"""Notices: reminders and warnings addressed to people (review due, charter expiring …).

Charter records them; a mail or chat bridge delivers them (``charter notices``
and ``GET /v1/notices`` list them). Each notice has a unique ``key`` saying
what it is about ("expiry.warn:<agent>:<date>:7d"), so sending one is
idempotent: two workers, or the same worker twice, record it once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from charter.domain.moments import utc
from charter.errors import InvalidInput
from charter.services.clock import Clock
from charter.store.database import Database
from charter.store.governance_schema import notices

_N = notices


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    key: str
    recipient: str
    kind: str
    agent: str | None
    subject: str
    body: str
    created_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "recipient": self.recipient,
            "kind": self.kind,
            "agent": self.agent,
            "subject": self.subject,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }


def send(
    connection: Connection,
    *,
    key: str,
    recipient: str,
    kind: str,
    subject: str,
    body: str,
    now: dt.datetime,
    agent: str | None = None,
) -> bool:
    """Record a notice unless one with ``key`` exists; True when this call recorded it."""
    insert = postgresql.insert(_N) if connection.dialect.name == "postgresql" else sqlite.insert(_N)
    result = connection.execute(
        insert.on_conflict_do_nothing(index_elements=[_N.c.key])
        .values(
            key=key[:400],
            recipient=recipient,
            kind=kind,
            agent=agent,
            subject=subject,
            body=body,
            created_at=now,
        )
        .returning(_N.c.id)  # a row back only when inserted (rowcount is not reliable here)
    )
    return result.first() is not None


class NoticeService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    def list(
        self, *, recipient: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[Notice]:
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000", field="limit")
        query = sa.select(_N)
        if recipient:
            query = query.where(_N.c.recipient == recipient.lower())
        if kind:
            query = query.where(_N.c.kind == kind)
        with self._db.read() as connection:
            rows = connection.execute(query.order_by(_N.c.id.desc()).limit(limit))
            return [
                Notice(
                    r.id, r.key, r.recipient, r.kind, r.agent, r.subject, r.body, utc(r.created_at)
                )
                for r in rows
            ]
