"""Reconciliation: write one source and account's view of the estate into the store.

``ReconcileService.apply(batch, actor=...)`` is the *load* and *cleanup* half of
every connector's get → normalize → reconcile (cartography's shape, scoped the
same way). For one ``(source, account)`` it runs in ONE transaction:

- **upsert** every system, identity, credential and grant in the batch: new
  rows get ``first_seen = last_seen = now``; rows whose content changed are
  updated (``first_seen`` kept); unchanged rows only get ``last_seen = now``
  (chunk by chunk, so a first ingest never rewrites what it just wrote);
- **cleanup**: rows of the same source and account that the batch no longer
  contains get ``gone_at = now`` (only when the batch is ``complete``; other
  accounts and sources are never touched); a row that comes back is revived;
- **audit**: one ``estate.ingest`` event summarising the counts, only when
  something changed — re-ingesting the same export writes no event and
  changes no content.

Attribution (which agent and which owner an identity or credential belongs
to, and shadow-agent creation) runs inside the same transaction through an
:class:`AttributionHook`, so attributed fields compare stably across re-ingests
and nothing is half-written if any record is bad.

Memory is bounded: record streams are consumed in chunks of
:data:`CHUNK` rows; the ids seen so far live in a temporary table, which also
catches an id that appears twice in one batch.

Callers: every connector through ``charter discover``, and the file-system
scanner (``source="fs"``)::

    from charter.services.reconcile import Batch
    result = services.reconcile.apply(
        Batch("fs", "host:laptop-7", systems=[...], identities=[...], credentials=[...]),
        actor="cli:ada",
    )
    result.changed  # False when the same scan is applied again
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.batch import Batch
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import Conflict, InvalidInput
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.reconcile_result import (
    SAMPLE,
    AttributionFactory,
    AttributionHook,
    KindCounts,
    ReconcileResult,
)
from charter.services.reconcile_rows import (
    CREDENTIAL_COLUMNS,
    GRANT_COLUMNS,
    IDENTITY_COLUMNS,
    SqliteCodec,
    check_json,
    row_values,
    same_values,
    sqlite_time,
)
from charter.store import schema
from charter.store.database import Database
from charter.store.sqlite_cursor import sqlite_in
from charter.store.versions import bump_version

__all__ = ["CHUNK", "AttributionHook", "Batch", "KindCounts", "ReconcileResult", "ReconcileService"]

#: Rows per round trip: big enough for executemany to pay off, small enough for memory.
CHUNK = 5000
#: SQLite page cache for the ingest connection, in KiB (128 MiB).
SQLITE_CACHE_KIB = 131072
_T = TypeVar("_T")
_R = TypeVar("_R", Identity, Credential, Grant)


def _chunks(items: Iterable[_T], size: int = CHUNK) -> Iterator[list[_T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# -- the seen-ids temporary table --------------------------------------------------------
_seen_metadata = sa.MetaData()
_SEEN = sa.Table(
    "charter_reconcile_seen",
    _seen_metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("id", sa.String(1024), primary_key=True),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
    sqlite_with_rowid=False,  # one B-tree (the key) instead of a rowid table plus its index
)


_SEEN_INSERT = "INSERT INTO charter_reconcile_seen (kind, id) VALUES (?, ?)"


class ReconcileService:
    """Upserts a :class:`Batch` and cleans up what disappeared, per source and account."""

    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        attribution: AttributionFactory | None = None,
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._attribution = attribution

    def apply(
        self,
        batch: Batch,
        *,
        actor: str,
        attribute: bool = True,
        prepare: Callable[[Connection], object] | None = None,
    ) -> ReconcileResult:
        """Ingest one batch in one transaction; see the module docstring for the rules.

        ``prepare`` runs first inside that transaction (the scanner moves records
        between overlapping roots there, so the move and the ingest are one change).

        Raises :class:`InvalidInput` naming the record for a record of another
        scope, a duplicated id or a non-JSON property, and :class:`Conflict`
        when an id already belongs to another source or account. On any error
        nothing of the batch is written.
        """
        if not batch.source or not batch.account:
            raise InvalidInput("a batch needs a source and an account", field="account")
        now = self._clock.now()
        result = ReconcileResult(batch.source, batch.account)
        with self._db.write() as connection:
            if connection.dialect.name == "sqlite":
                # Credentials are indexed by random fingerprints: a bigger page cache halves
                # insert time at a million rows (per connection; allocated only as used).
                connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            _SEEN.drop(connection, checkfirst=True)
            _SEEN.create(connection)
            if prepare is not None:
                prepare(connection)
            hook = (
                self._attribution(connection, batch, actor)
                if attribute and self._attribution
                else None
            )
            self._systems(connection, batch.systems, result.systems)
            self._upsert(
                connection,
                batch,
                now,
                "identity",
                batch.identities,
                schema.identities,
                IDENTITY_COLUMNS,
                result.identities,
                hook.identities if hook else None,
            )
            self._upsert(
                connection,
                batch,
                now,
                "credential",
                batch.credentials,
                schema.credentials,
                CREDENTIAL_COLUMNS,
                result.credentials,
                hook.credentials if hook else None,
            )
            self._upsert(
                connection,
                batch,
                now,
                "grant",
                batch.grants,
                schema.grants,
                GRANT_COLUMNS,
                result.grants,
                None,
            )
            for kind, table, counts in (
                ("identity", schema.identities, result.identities),
                ("credential", schema.credentials, result.credentials),
                ("grant", schema.grants, result.grants),
            ):
                if batch.complete:
                    self._cleanup(connection, batch, kind, table, now, counts)
            result.skipped = batch.skipped.count
            result.warnings = batch.skipped.warnings()
            drafts = hook.finish(connection) if hook else []
            result.shadow_agents = list(
                dict.fromkeys(
                    d.target
                    for d in drafts
                    if d.action == "agent.discover" and not (d.after or {}).get("joined")
                )
            )
            if result.changed or drafts:
                drafts.insert(
                    0,
                    EventDraft(
                        actor,
                        "estate.ingest",
                        "estate",
                        batch.scope,
                        None,
                        {
                            **result.summary(),
                            "warnings": result.warnings[:SAMPLE],
                            "origin": list(batch.origin)[:SAMPLE],
                        },
                    ),
                )
                events = self._audit.record_many(connection, drafts)
                result.events = [e.seq for e in events]
                bump_version(connection, "estate")
            _SEEN.drop(connection, checkfirst=True)
        return result

    # -- steps -------------------------------------------------------------------------
    def _systems(
        self, connection: Connection, systems: Iterable[System], counts: KindCounts
    ) -> None:
        table = schema.systems
        for chunk in _chunks(systems):
            wanted: dict[str, System] = {}
            for system in chunk:
                wanted[system.id] = system  # the same system named twice is fine
            stored = {
                row.id: row
                for row in connection.execute(sa.select(table).where(table.c.id.in_(list(wanted))))
            }
            for system_id, system in wanted.items():
                old = stored.get(system_id)
                if old is None:
                    connection.execute(
                        sa.insert(table).values(id=system_id, kind=system.kind, name=system.name)
                    )
                    counts._note("created", system_id)
                elif (old.kind, old.name) != (system.kind, system.name):
                    connection.execute(
                        sa.update(table)
                        .where(table.c.id == system_id)
                        .values(kind=system.kind, name=system.name)
                    )
                    counts._note("updated", system_id)
                else:
                    counts.unchanged += 1

    def _upsert(
        self,
        connection: Connection,
        batch: Batch,
        now: dt.datetime,
        kind: str,
        records: Iterable[_R],
        table: sa.Table,
        columns: Sequence[str],
        counts: KindCounts,
        attribute: Callable[[Connection, Sequence[_R], Mapping[str, str | None]], list[_R]] | None,
    ) -> None:
        fast = SqliteCodec(table, columns) if connection.dialect.name == "sqlite" else None
        for chunk in _chunks(records):
            ids: list[str] = []
            for index, record in enumerate(chunk):
                if record.source != batch.source or record.account != batch.account:
                    raise InvalidInput(
                        f"{kind} {record.id!r} belongs to {record.source}:{record.account}, "
                        f"not to the batch's {batch.scope}",
                        field=f"{kind}.account",
                    )
                if not record.id:
                    raise InvalidInput(
                        f"{kind} #{counts.seen + index} has no id", field=f"{kind}.id"
                    )
                ids.append(record.id)
            self._mark_seen(connection, kind, ids)
            if fast is not None:
                self._chunk_sqlite(
                    connection, batch, now, kind, chunk, ids, fast, counts, attribute
                )
            else:
                self._chunk_core(
                    connection, batch, now, kind, chunk, ids, table, columns, counts, attribute
                )

    def _chunk_sqlite(
        self,
        connection: Connection,
        batch: Batch,
        now: dt.datetime,
        kind: str,
        chunk: list[_R],
        ids: list[str],
        codec: SqliteCodec,
        counts: KindCounts,
        attribute: Callable[[Connection, Sequence[_R], Mapping[str, str | None]], list[_R]] | None,
    ) -> None:
        """Stored tuples in, stored tuples compared: no per-row SQLAlchemy processing."""
        stored = {row[0]: row for row in sqlite_in(connection, codec.select, ids)}
        if attribute is not None:
            agents = (
                {i: row[codec.agent_index] for i, row in stored.items()}
                if codec.agent_index
                else {}
            )
            chunk = attribute(connection, chunk, agents)
        stamp = sqlite_time(now)
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        unchanged: list[str] = []
        width = len(codec.columns)
        source_at, account_at = codec.scope_index
        scope = (batch.source, batch.account)
        encode = codec.encode
        for record in chunk:
            record_id = record.id
            encoded: tuple[Any, ...] = encode(record, kind=kind)
            old = stored.get(record_id)
            if old is None:
                inserts.append((record_id, *encoded, stamp, stamp, None))
            elif (old[source_at], old[account_at]) != scope:
                raise Conflict(
                    f"{kind} id {record_id!r} already belongs to "
                    f"{old[source_at]}:{old[account_at]}",
                    field=f"{kind}.id",
                )
            elif old[-1] is None and old[1 : 1 + width] == encoded:
                unchanged.append(record_id)
            else:
                updates.append((*encoded, stamp, record_id))
        counts.note_many("created", [row[0] for row in inserts[:SAMPLE]], len(inserts))
        counts.note_many("updated", [row[-1] for row in updates[:SAMPLE]], len(updates))
        counts.unchanged += len(unchanged)
        if inserts:
            connection.exec_driver_sql(codec.insert, inserts)
        if updates:
            connection.exec_driver_sql(codec.update, updates)
        if unchanged:  # seen again: only last_seen moves (new and changed rows already have it)
            marks = "(" + ", ".join("?" * len(unchanged)) + ")"
            connection.exec_driver_sql(codec.touch + marks, (stamp, *unchanged))

    def _chunk_core(
        self,
        connection: Connection,
        batch: Batch,
        now: dt.datetime,
        kind: str,
        chunk: list[_R],
        ids: list[str],
        table: sa.Table,
        columns: Sequence[str],
        counts: KindCounts,
        attribute: Callable[[Connection, Sequence[_R], Mapping[str, str | None]], list[_R]] | None,
    ) -> None:
        """PostgreSQL: Core statements (the driver binds datetimes and JSONB),
        semantic comparison.
        """
        stored = {
            row.id: row for row in connection.execute(sa.select(table).where(table.c.id.in_(ids)))
        }
        if attribute is not None:
            agents = {i: getattr(row, "agent", None) for i, row in stored.items()}
            chunk = attribute(connection, chunk, agents)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        unchanged: list[str] = []
        for record in chunk:
            row = row_values(record, columns)
            check_json(row, columns, what=f"{kind} {record.id!r}")
            old = stored.get(record.id)
            if old is None:
                inserts.append({**row, "first_seen": now, "last_seen": now, "gone_at": None})
                counts._note("created", record.id)
            elif (old.source, old.account) != (batch.source, batch.account):
                raise Conflict(
                    f"{kind} id {record.id!r} already belongs to {old.source}:{old.account}",
                    field=f"{kind}.id",
                )
            elif same_values(row, old, columns):
                counts.unchanged += 1
                unchanged.append(record.id)
            else:
                updates.append(
                    {f"b_{k}": v for k, v in row.items()} | {"b_last_seen": now, "b_gone_at": None}
                )
                counts._note("updated", record.id)
        if inserts:
            connection.execute(sa.insert(table), inserts)
        if updates:
            statement = (
                sa.update(table)
                .where(table.c.id == sa.bindparam("b_id"))
                .values({c: sa.bindparam(f"b_{c}") for c in (*columns, "last_seen", "gone_at")})
            )
            connection.execute(statement, updates)
        if unchanged:
            connection.execute(
                sa.update(table).where(table.c.id.in_(unchanged)).values(last_seen=now)
            )

    def _mark_seen(self, connection: Connection, kind: str, ids: list[str]) -> None:
        """Remember ids in the temp table; the primary key catches an id seen twice."""
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            duplicate = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise InvalidInput(
                f"{kind} id {duplicate!r} appears twice in the export", field=f"{kind}.id"
            )
        try:
            with connection.begin_nested():  # a savepoint, so the transaction survives to report it
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql(_SEEN_INSERT, [(kind, i) for i in ids])
                else:
                    connection.execute(sa.insert(_SEEN), [{"kind": kind, "id": i} for i in ids])
        except sa.exc.IntegrityError:
            already = connection.execute(
                sa.select(_SEEN.c.id).where(_SEEN.c.kind == kind, _SEEN.c.id.in_(ids)).limit(1)
            ).scalar()
            raise InvalidInput(
                f"{kind} id {already!r} appears twice in the export", field=f"{kind}.id"
            ) from None

    def _cleanup(
        self,
        connection: Connection,
        batch: Batch,
        kind: str,
        table: sa.Table,
        now: dt.datetime,
        counts: KindCounts,
    ) -> None:
        """Mark gone what this source+account had and the batch no longer has."""
        missing = sa.and_(
            table.c.source == batch.source,
            table.c.account == batch.account,
            table.c.gone_at.is_(None),
            ~sa.exists().where(_SEEN.c.kind == kind, _SEEN.c.id == table.c.id),
        )
        counts.gone = int(
            connection.execute(
                sa.select(sa.func.count()).select_from(table).where(missing)
            ).scalar_one()
        )
        if not counts.gone:
            return
        counts.gone_ids = list(
            connection.execute(
                sa.select(table.c.id).where(missing).order_by(table.c.id).limit(SAMPLE)
            ).scalars()
        )
        connection.execute(sa.update(table).where(missing).values(gone_at=now))
