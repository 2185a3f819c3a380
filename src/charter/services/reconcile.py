"""Reconciliation: write one source and account's view of the estate into the store.

``ReconcileService.apply(batch, actor=...)`` is the *load* and *cleanup* half of
every connector's get → normalize → reconcile (cartography's shape, scoped the
same way). For one ``(source, account)`` it runs in ONE transaction:

- **upsert** every system, identity, credential and grant in the batch: new
  rows get ``first_seen = last_seen = now``; rows whose content changed are
  updated (``first_seen`` kept); unchanged rows only get ``last_seen = now``;
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
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.connectors.batch import Batch
from charter.domain.audit import EventDraft
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import Conflict, InvalidInput
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store import schema
from charter.store.database import Database
from charter.store.versions import bump_version

__all__ = ["CHUNK", "AttributionHook", "Batch", "KindCounts", "ReconcileResult", "ReconcileService"]

#: Rows per round trip: big enough for executemany to pay off, small enough for memory.
CHUNK = 2000
#: How many ids per kind an audit event names (the counts are always complete).
SAMPLE = 20

_T = TypeVar("_T")
_R = TypeVar("_R", Identity, Credential, Grant)

_IDENTITY_COLUMNS = (
    "source", "account", "kind", "name", "system", "native_id", "owner", "owner_confidence",
    "agent", "ai_related", "created_at", "last_used_at", "evidence", "properties",
)  # fmt: skip
_CREDENTIAL_COLUMNS = (
    "source", "account", "kind", "provider", "fingerprint", "preview", "identity", "agent",
    "created_at", "expires_at", "last_used_at", "last_rotated_at", "location", "properties",
)  # fmt: skip
_GRANT_COLUMNS = (
    "source", "account", "subject_type", "subject", "system", "resource", "permissions",
    "reason", "properties",
)  # fmt: skip
_JSON_COLUMNS = frozenset({"evidence", "properties", "permissions"})


class AttributionHook(Protocol):
    """Decides, inside the ingest transaction, which agent and owner records belong to.

    ``existing`` maps id → the stored row (or is missing the id for a new
    record), so an attribution made earlier (a shadow agent) can be kept.
    """

    def identities(
        self, connection: Connection, records: Sequence[Identity], existing: Mapping[str, Any]
    ) -> list[Identity]: ...

    def credentials(
        self, connection: Connection, records: Sequence[Credential], existing: Mapping[str, Any]
    ) -> list[Credential]: ...

    def finish(self, connection: Connection) -> list[EventDraft]:
        """Audit events for what attribution created (shadow agents)."""
        ...


#: Builds one attribution pass for a batch: (connection, batch, actor) → hook.
AttributionFactory = Callable[[Connection, Batch, str], AttributionHook]


@dataclass(slots=True)
class KindCounts:
    """What happened to one kind of record in one ingest."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    gone: int = 0
    created_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)
    gone_ids: list[str] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.gone)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "gone": self.gone,
        }
        for name in ("created_ids", "updated_ids", "gone_ids"):
            ids = getattr(self, name)
            if ids:
                out[name] = ids
        return out

    def _note(self, bucket: str, record_id: str) -> None:
        setattr(self, bucket, getattr(self, bucket) + 1)
        ids: list[str] = getattr(self, f"{bucket}_ids")
        if len(ids) < SAMPLE:
            ids.append(record_id)


@dataclass(slots=True)
class ReconcileResult:
    """The outcome of one ``apply``: counts per kind and the events written."""

    source: str
    account: str
    systems: KindCounts = field(default_factory=KindCounts)
    identities: KindCounts = field(default_factory=KindCounts)
    credentials: KindCounts = field(default_factory=KindCounts)
    grants: KindCounts = field(default_factory=KindCounts)
    events: list[int] = field(default_factory=list)
    shadow_agents: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            c.changed for c in (self.systems, self.identities, self.credentials, self.grants)
        ) or bool(self.shadow_agents)

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "account": self.account,
            "systems": self.systems.summary(),
            "identities": self.identities.summary(),
            "credentials": self.credentials.summary(),
            "grants": self.grants.summary(),
            "shadow_agents": self.shadow_agents,
        }


# -- value canonicalisation (so stored rows and new records compare exactly) ------------
def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _plain(value: Any) -> Any:
    """JSON-shaped, comparable form of a value as the store will give it back."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return _aware(value).isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _json_safe(value: Any, *, what: str) -> Any:
    """Fail with the record's name, not deep inside the driver, on a non-JSON value."""
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} holds a value that is not JSON: {exc}", field=what) from exc
    return value


def _row(record: Any, columns: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": record.id}
    for column in columns:
        value = getattr(record, column)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dt.datetime):
            value = _aware(value)
        row[column] = value
    return row


def _same(new: Mapping[str, Any], old: Any, columns: Sequence[str]) -> bool:
    if old.gone_at is not None:
        return False
    for column in columns:
        a, b = new[column], getattr(old, column)
        if column in _JSON_COLUMNS:
            if _plain(a) != _plain(b):
                return False
        elif isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
            if (a is None) != (b is None) or (a is not None and _aware(a) != _aware(b)):
                return False
        elif a != b:
            return False
    return True


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
)


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

    def apply(self, batch: Batch, *, actor: str, attribute: bool = True) -> ReconcileResult:
        """Ingest one batch in one transaction; see the module docstring for the rules.

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
            _SEEN.drop(connection, checkfirst=True)
            _SEEN.create(connection)
            hook = (
                self._attribution(connection, batch, actor)
                if attribute and self._attribution
                else None
            )
            self._systems(connection, batch.systems, result.systems)
            self._upsert(connection, batch, now, "identity", batch.identities,
                         schema.identities, _IDENTITY_COLUMNS, result.identities,
                         hook.identities if hook else None)  # fmt: skip
            self._upsert(connection, batch, now, "credential", batch.credentials,
                         schema.credentials, _CREDENTIAL_COLUMNS, result.credentials,
                         hook.credentials if hook else None)  # fmt: skip
            self._upsert(connection, batch, now, "grant", batch.grants,
                         schema.grants, _GRANT_COLUMNS, result.grants, None)  # fmt: skip
            for kind, table, counts in (
                ("identity", schema.identities, result.identities),
                ("credential", schema.credentials, result.credentials),
                ("grant", schema.grants, result.grants),
            ):
                self._touch(connection, kind, table, now)
                if batch.complete:
                    self._cleanup(connection, batch, kind, table, now, counts)
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
                        {**result.summary(), "origin": list(batch.origin)[:SAMPLE]},
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
        attribute: Callable[[Connection, Sequence[_R], Mapping[str, Any]], list[_R]] | None,
    ) -> None:
        update = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values({c: sa.bindparam(f"b_{c}") for c in (*columns, "last_seen", "gone_at")})
        )
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
            stored = {
                row.id: row
                for row in connection.execute(sa.select(table).where(table.c.id.in_(ids)))
            }
            if attribute is not None:
                chunk = attribute(connection, chunk, stored)
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for record in chunk:
                row = _row(record, columns)
                for column in _JSON_COLUMNS.intersection(columns):
                    _json_safe(row[column], what=f"{kind} {record.id!r} {column}")
                old = stored.get(record.id)
                if old is None:
                    inserts.append({**row, "first_seen": now, "last_seen": now, "gone_at": None})
                    counts._note("created", record.id)
                elif (old.source, old.account) != (batch.source, batch.account):
                    raise Conflict(
                        f"{kind} id {record.id!r} already belongs to {old.source}:{old.account}",
                        field=f"{kind}.id",
                    )
                elif _same(row, old, columns):
                    counts.unchanged += 1
                else:
                    updates.append(
                        {f"b_{k}": v for k, v in row.items()}
                        | {"b_last_seen": now, "b_gone_at": None}
                    )
                    counts._note("updated", record.id)
            if inserts:
                connection.execute(sa.insert(table), inserts)
            if updates:
                connection.execute(update, updates)

    def _mark_seen(self, connection: Connection, kind: str, ids: list[str]) -> None:
        """Remember ids in the temp table; an id seen twice is a bad export."""
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            duplicate = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise InvalidInput(
                f"{kind} id {duplicate!r} appears twice in the export", field=f"{kind}.id"
            )
        already = connection.execute(
            sa.select(_SEEN.c.id).where(_SEEN.c.kind == kind, _SEEN.c.id.in_(ids)).limit(1)
        ).scalar()
        if already is not None:
            raise InvalidInput(
                f"{kind} id {already!r} appears twice in the export", field=f"{kind}.id"
            )
        connection.execute(sa.insert(_SEEN), [{"kind": kind, "id": i} for i in ids])

    def _touch(self, connection: Connection, kind: str, table: sa.Table, now: dt.datetime) -> None:
        """``last_seen = now`` for every row the batch contained (one set-based update)."""
        seen = sa.select(_SEEN.c.id).where(_SEEN.c.kind == kind)
        connection.execute(sa.update(table).where(table.c.id.in_(seen)).values(last_seen=now))

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
