"""The audit log: append-only, hash-chained Events.

Every state change appends its Event in the *same* transaction as the change.
Appends are serialised (SQLite: the write transaction holds the database lock;
PostgreSQL: an advisory transaction lock), and ``prev_hash`` is unique, so two
writers can never fork the chain: both land, one after the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import GENESIS_HASH, Event, EventDraft, event_hash
from charter.services.clock import Clock
from charter.store import schema
from charter.store.database import AUDIT_LOCK_ID, Database

_E = schema.events


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events: int
    first_broken_seq: int | None = None
    problem: str | None = None


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _set_head(connection: Connection, seq: int) -> None:
    """Keep the head's sequence number apart from the chain, so truncation shows."""
    updated = connection.execute(
        sa.update(schema.meta).where(schema.meta.c.key == "audit_head").values(value=seq)
    )
    if updated.rowcount == 0:
        connection.execute(sa.insert(schema.meta).values(key="audit_head", value=seq))


class AuditService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    def record(self, connection: Connection, draft: EventDraft) -> Event:
        """Append one event inside the caller's transaction."""
        return self.record_many(connection, [draft])[-1]

    def record_many(self, connection: Connection, drafts: Sequence[EventDraft]) -> list[Event]:
        """Append events in order inside the caller's transaction (one lock, one insert)."""
        if not drafts:
            return []
        self._db.lock(connection, AUDIT_LOCK_ID)
        head = connection.execute(
            sa.select(_E.c.seq, _E.c.hash).order_by(_E.c.seq.desc()).limit(1)
        ).first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        time = _iso(self._clock.now())
        rows: list[dict[str, object]] = []
        out: list[Event] = []
        for draft in drafts:
            seq += 1
            summary = draft.summary_text()
            digest = event_hash(
                seq, time, draft.actor, draft.action, draft.target_type, draft.target, summary, prev
            )
            event = Event(
                seq=seq,
                time=time,
                actor=draft.actor,
                action=draft.action,
                target_type=draft.target_type,
                target=draft.target,
                summary=summary,
                prev_hash=prev,
                hash=digest,
            )
            rows.append(
                {
                    "seq": seq,
                    "time": time,
                    "actor": draft.actor,
                    "action": draft.action,
                    "target_type": draft.target_type,
                    "target": draft.target,
                    "summary": summary,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            out.append(event)
            prev = digest
        connection.execute(sa.insert(_E), rows)
        _set_head(connection, seq)
        return out

    def append(self, drafts: Sequence[EventDraft]) -> list[Event]:
        """Append events in their own transaction (for callers with nothing else to write)."""
        with self._db.write() as connection:
            return self.record_many(connection, drafts)

    def list(
        self,
        *,
        target: str | None = None,
        target_type: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[Event]:
        query = sa.select(_E)
        if target is not None:
            query = query.where(_E.c.target == target)
        if target_type is not None:
            query = query.where(_E.c.target_type == target_type)
        if actor is not None:
            query = query.where(_E.c.actor == actor)
        if action is not None:
            query = query.where(_E.c.action == action)
        if after_seq:
            query = query.where(_E.c.seq > after_seq)
        query = query.order_by(_E.c.seq.desc() if newest_first else _E.c.seq).limit(limit)
        with self._db.read() as connection:
            return [Event(**row._mapping) for row in connection.execute(query)]

    def count(self) -> int:
        with self._db.read() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(_E)).scalar_one())

    def _rows(self, batch: int = 20000) -> Iterator[tuple[Any, ...]]:
        columns = (
            _E.c.seq,
            _E.c.time,
            _E.c.actor,
            _E.c.action,
            _E.c.target_type,
            _E.c.target,
            _E.c.summary,
            _E.c.prev_hash,
            _E.c.hash,
        )
        last = 0
        with self._db.read() as connection:
            while True:
                chunk = connection.execute(
                    sa.select(*columns).where(_E.c.seq > last).order_by(_E.c.seq).limit(batch)
                ).all()
                if not chunk:
                    return
                for row in chunk:
                    yield tuple(row)
                last = chunk[-1][0]

    def verify(self) -> ChainReport:
        """Recompute the whole chain; name the first broken link if any."""
        expected_seq = 1
        prev = GENESIS_HASH
        count = 0
        for seq, time, actor, action, ttype, target, summary, prev_hash, digest in self._rows():
            count += 1
            if seq != expected_seq:
                return ChainReport(
                    False,
                    count,
                    expected_seq,
                    f"event {expected_seq} is missing (next present is {seq})",
                )
            if prev_hash != prev:
                return ChainReport(
                    False, count, seq, f"event {seq} does not link to event {seq - 1}"
                )
            if event_hash(seq, time, actor, action, ttype, target, summary, prev) != digest:
                return ChainReport(
                    False, count, seq, f"event {seq} was altered after it was written"
                )
            prev = digest
            expected_seq += 1
        with self._db.read() as connection:
            head = connection.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == "audit_head")
            ).scalar()
        if (head or 0) != count:
            return ChainReport(
                False,
                count,
                count + 1,
                f"the chain ends at event {count} but {head} events were written: "
                "events at the end were deleted",
            )
        return ChainReport(True, count)
