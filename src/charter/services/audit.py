"""The audit log: append-only, keyed hash-chained Events.

Every state change appends its Event in the *same* transaction as the change.
Appends are serialised (SQLite: the write transaction holds the database lock;
PostgreSQL: an advisory transaction lock), and ``prev_hash`` is unique, so two
writers can never fork the chain: both land, one after the other.

Links are HMACs under a key derived from the master key (never stored), and the
head is sealed beside them (:mod:`charter.domain.audit_chain`); signed
checkpoints of the head are written out of the database
(:mod:`charter.services.audit_checkpoints`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import GENESIS_HASH, Event, EventDraft
from charter.domain.audit_chain import (
    BOUNDARY,
    HEAD,
    Anchor,
    ChainBroken,
    ChainKey,
    ChainReport,
    KeyMismatch,
    Row,
    check_key,
    verify_chain,
)
from charter.domain.audit_checkpoint import checkpoint_problem
from charter.errors import StoreError
from charter.services.audit_checkpoints import (
    CheckpointSet,
    CheckpointTarget,
    Written,
    directory_lock,
    post_checkpoint,
    read_checkpoints,
    write_checkpoint,
)
from charter.services.clock import Clock
from charter.store import schema
from charter.store.audit_schema import audit_anchors as _A
from charter.store.database import AUDIT_LOCK_ID, Database

if TYPE_CHECKING:
    from charter.services.audit_keys import AuditKeyring

__all__ = ["AuditService", "ChainReport"]

_E = schema.events
#: An Event's fields, as its row: ``dataclasses.asdict`` deep-copies each (all are str or
#: int) and cost a token issuance more than building the dict.
_EVENT_COLUMNS = tuple(field.name for field in dataclasses.fields(Event))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _put_anchor(connection: Connection, anchor: Anchor) -> None:
    values = {"seq": anchor.seq, "hash": anchor.hash, "key_id": anchor.key_id, "mac": anchor.mac}
    query = sa.update(_A).where(_A.c.name == anchor.name).values(**values)
    if connection.execute(query).rowcount == 0:
        connection.execute(sa.insert(_A).values(name=anchor.name, **values))


def _anchors(connection: Connection) -> dict[str, Anchor]:
    rows = connection.execute(sa.select(_A.c.name, _A.c.seq, _A.c.hash, _A.c.key_id, _A.c.mac))
    return {row.name: Anchor(row.name, row.seq, row.hash, row.key_id, row.mac) for row in rows}


class AuditService:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        keyring: AuditKeyring,
        checkpoints: CheckpointTarget | None = None,
    ) -> None:
        self._db = database
        self._clock = clock
        self.keyring = keyring
        self.checkpoints = checkpoints
        self._sealed: Anchor | None = None
        #: called with the connection and the new events inside every append's transaction
        #: (the Shared Signals outbox): what they write commits or rolls back with the change
        self.listeners: list[Callable[[Connection, Sequence[Event]], object]] = []

    def record(self, connection: Connection, draft: EventDraft) -> Event:
        """Append one event inside the caller's transaction."""
        return self.record_many(connection, [draft])[-1]

    def _chain_key(self, connection: Connection, seq: int, prev: str) -> ChainKey:
        """The key to link with; seals the boundary on the first keyed append (under the lock).

        The boundary is remembered only once it was read sealed: sealing it here
        may still be rolled back with the caller's transaction.
        """
        key = self.keyring.keys().chain
        if self._sealed is not None:
            return key
        boundary = _anchors(connection).get(BOUNDARY)
        if boundary is None:
            raise StoreError("the audit chain's boundary record is missing: the store was altered")
        if boundary.mac is None:
            mac = key.seal(BOUNDARY, seq + 1, prev, key.key_id)
            _put_anchor(connection, Anchor(BOUNDARY, seq + 1, prev, key.key_id, mac))
            return key
        try:
            check_key(boundary, key)
        except KeyMismatch as exc:
            raise StoreError(exc.message) from None
        if not boundary.sealed_by(key):
            raise StoreError(
                "the audit chain's boundary record was altered: run charter audit verify"
            )
        self._sealed = boundary
        return key

    def record_many(self, connection: Connection, drafts: Sequence[EventDraft]) -> list[Event]:
        """Append events in order inside the caller's transaction (one lock, one insert)."""
        if not drafts:
            return []
        self._db.lock(connection, AUDIT_LOCK_ID)
        head = connection.execute(
            sa.select(_E.c.seq, _E.c.hash).order_by(_E.c.seq.desc()).limit(1)
        ).first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        key = self._chain_key(connection, seq, prev)
        time = _iso(self._clock.now())
        rows: list[dict[str, object]] = []
        out: list[Event] = []
        for draft in drafts:
            seq += 1
            summary = draft.summary_text()
            digest = key.link(
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
            rows.append({name: getattr(event, name) for name in _EVENT_COLUMNS})
            out.append(event)
            prev = digest
        connection.execute(sa.insert(_E), rows)
        _put_anchor(
            connection, Anchor(HEAD, seq, prev, key.key_id, key.seal(HEAD, seq, prev, key.key_id))
        )
        for listener in self.listeners:
            listener(connection, out)
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

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """One consistent view of rows, anchors and head (PostgreSQL: repeatable read)."""
        with self._db.read() as connection:
            if self._db.is_postgres:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            yield connection

    def _rows(
        self, connection: Connection, wanted: set[int], links: dict[int, str], batch: int = 20000
    ) -> Iterator[Row]:
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
        while True:
            chunk = connection.execute(
                sa.select(*columns).where(_E.c.seq > last).order_by(_E.c.seq).limit(batch)
            ).all()
            if not chunk:
                return
            for row in chunk:
                if row[0] in wanted:
                    links[row[0]] = row[8]
                yield tuple(row)
            last = chunk[-1][0]

    def verify(self, checkpoints: CheckpointSet | None = None) -> ChainReport:
        """Recompute the whole chain, then hold it against the checkpoints (if given).

        Links are checked with the master key when this process has one; without
        it only their order and the checkpoints' signatures are (an auditor's view).
        """
        keys = self.keyring.existing()
        stored = checkpoints.stored if checkpoints is not None else []
        wanted = {item.checkpoint.sequence for item in stored}
        links: dict[int, str] = {}
        with self._snapshot() as connection:
            anchors = _anchors(connection)
            counted = connection.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == "audit_head")
            ).scalar()
            report = verify_chain(
                self._rows(connection, wanted, links),
                boundary=anchors.get(BOUNDARY),
                head=anchors.get(HEAD),
                counted=int(counted or 0),
                key=keys.chain if keys is not None else None,
            )
        if checkpoints is None or not report.ok:
            return report
        problem = checkpoints.problem or checkpoint_problem(
            stored,
            key=checkpoints.key,
            events=report.events,
            keyed_from=report.keyed_from,
            links=links,
        )
        return dataclasses.replace(
            report,
            ok=problem is None,
            problem=problem,
            checkpoints=len(stored),
            newest_checkpoint=max((s.checkpoint.sequence for s in stored), default=None),
        )

    def read_checkpoints(self, directory: Path, public_key: Path | None = None) -> CheckpointSet:
        """The checkpoints in ``directory``, checked with this master key's public key if any."""
        keys = self.keyring.existing()
        derived = keys.checkpoint.public() if keys is not None else None
        return read_checkpoints(directory, public_key=public_key, derived=derived)

    def checkpoint(self) -> Written:
        """Sign the head and write it out of the database (and to the sink, if any).

        Refuses when the chain does not verify against the key and every earlier
        checkpoint: a checkpoint must never vouch for a tampered store.
        """
        if self.checkpoints is None:
            raise StoreError("no checkpoint directory is configured")
        target = self.checkpoints
        keys = self.keyring.keys()
        public = keys.checkpoint.public()
        with directory_lock(target.directory):
            earlier = read_checkpoints(target.directory, derived=public, allow_empty=True)
            report = self.verify(earlier)
            if not report.ok:
                raise ChainBroken(
                    f"no checkpoint written: the audit chain does not verify: {report.problem}"
                )
            checkpoint = keys.checkpoint.sign(
                report.events, report.head_hash, _iso(self._clock.now()), report.keyed_from
            )
            path = write_checkpoint(target.directory, checkpoint, public)
        sink_error = post_checkpoint(target.url, checkpoint) if target.url else None
        return Written(checkpoint, path, sink_error)
