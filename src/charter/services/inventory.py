"""The estate inventory: identities and credentials as ingested, with when they were seen.

Read-only queries behind ``/v1/identities`` and ``/v1/credentials``. Rows come
back as the domain records (``Identity``, ``Credential``, ``Grant``) plus their
``first_seen`` / ``last_seen`` / ``gone_at``, never as store rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity
from charter.errors import InvalidInput, NotFound
from charter.store import schema
from charter.store.database import Database

_I, _C, _G = schema.identities, schema.credentials, schema.grants
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Seen(Generic[T]):
    record: T
    first_seen: dt.datetime
    last_seen: dt.datetime
    gone_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    items: list[Seen[T]]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class IdentityDetail:
    identity: Seen[Identity]
    credentials: list[Seen[Credential]]
    grants: list[Seen[Grant]]


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _seen(row: Any, record: T) -> Seen[T]:
    return Seen(
        record,
        _aware(row.first_seen) or row.first_seen,
        _aware(row.last_seen) or row.last_seen,
        _aware(row.gone_at),
    )


def identity_of(row: Any) -> Seen[Identity]:
    return _seen(
        row,
        Identity(
            id=row.id,
            source=row.source,
            account=row.account,
            kind=IdentityKind(row.kind),
            name=row.name,
            system=row.system,
            native_id=row.native_id,
            owner=row.owner,
            owner_confidence=row.owner_confidence,
            agent=row.agent,
            ai_related=row.ai_related,
            created_at=_aware(row.created_at),
            last_used_at=_aware(row.last_used_at),
            evidence=tuple(row.evidence or ()),
            properties=dict(row.properties or {}),
        ),
    )


def credential_of(row: Any) -> Seen[Credential]:
    return _seen(
        row,
        Credential(
            id=row.id,
            source=row.source,
            account=row.account,
            kind=CredentialKind(row.kind),
            provider=row.provider,
            fingerprint=row.fingerprint,
            preview=row.preview,
            identity=row.identity,
            agent=row.agent,
            created_at=_aware(row.created_at),
            expires_at=_aware(row.expires_at),
            last_used_at=_aware(row.last_used_at),
            last_rotated_at=_aware(row.last_rotated_at),
            location=row.location,
            properties=dict(row.properties or {}),
        ),
    )


def grant_of(row: Any) -> Seen[Grant]:
    return _seen(
        row,
        Grant(
            id=row.id,
            source=row.source,
            account=row.account,
            subject_type=row.subject_type,
            subject=row.subject,
            system=row.system,
            resource=row.resource,
            permissions=tuple(row.permissions or ()),
            reason=row.reason,
            properties=dict(row.properties or {}),
        ),
    )


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    if offset < 0:
        raise InvalidInput("offset must not be negative", field="offset")


class InventoryService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def identities(
        self,
        *,
        source: str | None = None,
        account: str | None = None,
        agent: str | None = None,
        ai_related: bool | None = None,
        kind: IdentityKind | None = None,
        owner: str | None = None,
        include_gone: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> Listing[Identity]:
        _check_page(limit, offset)
        conditions = []
        for column, value in (
            (_I.c.source, source),
            (_I.c.account, account),
            (_I.c.agent, agent),
            (_I.c.owner, owner.lower() if owner else None),
        ):
            if value is not None:
                conditions.append(column == value)
        if ai_related is not None:
            conditions.append(_I.c.ai_related.is_(ai_related))
        if kind is not None:
            conditions.append(_I.c.kind == kind.value)
        if not include_gone:
            conditions.append(_I.c.gone_at.is_(None))
        with self._db.read() as connection:
            total = int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(_I).where(*conditions)
                ).scalar_one()
            )
            rows = connection.execute(
                sa.select(_I).where(*conditions).order_by(_I.c.id).limit(limit).offset(offset)
            )
            return Listing([identity_of(r) for r in rows], total, limit, offset)

    def identity(self, identity_id: str) -> IdentityDetail:
        with self._db.read() as connection:
            row = connection.execute(sa.select(_I).where(_I.c.id == identity_id)).first()
            if row is None:
                raise NotFound(f"no identity {identity_id!r}", field="id")
            creds = connection.execute(
                sa.select(_C).where(_C.c.identity == identity_id).order_by(_C.c.id)
            ).all()
            subjects = [identity_id, *(c.id for c in creds)]
            grants = connection.execute(
                sa.select(_G).where(_G.c.subject.in_(subjects)).order_by(_G.c.id)
            ).all()
            return IdentityDetail(
                identity_of(row), [credential_of(c) for c in creds], [grant_of(g) for g in grants]
            )

    def credentials(
        self,
        *,
        source: str | None = None,
        account: str | None = None,
        agent: str | None = None,
        identity: str | None = None,
        fingerprint: str | None = None,
        include_gone: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> Listing[Credential]:
        _check_page(limit, offset)
        conditions = []
        for column, value in (
            (_C.c.source, source),
            (_C.c.account, account),
            (_C.c.agent, agent),
            (_C.c.identity, identity),
            (_C.c.fingerprint, fingerprint),
        ):
            if value is not None:
                conditions.append(column == value)
        if not include_gone:
            conditions.append(_C.c.gone_at.is_(None))
        with self._db.read() as connection:
            total = int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(_C).where(*conditions)
                ).scalar_one()
            )
            rows = connection.execute(
                sa.select(_C).where(*conditions).order_by(_C.c.id).limit(limit).offset(offset)
            )
            return Listing([credential_of(r) for r in rows], total, limit, offset)
