"""Bearer secrets for machines: personal API tokens and PEP keys.

- A **personal API token** (``chpat_…``) acts as the console user who created
  it, with that user's role, on the management API under ``/v1``
  (``Authorization: Bearer chpat_…``). It may expire; it can be revoked.
- A **PEP key** (``chpep_…``) is what a policy enforcement point presents to
  the AuthZEN endpoints (``/access/v1/*``), as PDPs in the AuthZEN interop
  require a bearer credential. It grants nothing else.

Both are 256-bit random strings shown once; the store keeps their SHA-256
digest (RFC 6750 bearer tokens, compared by digest so lookups take constant
time in the secret). The prefixes let secret scanners recognise them.

Checking a bearer on every request must not cost a query: a verified bearer
is cached in the process, and the cache is dropped whenever the ``auth``
change counter moves (a revocation, a disabled user, a role change), which is
read at most once per :data:`VERSION_CHECK_SECONDS` (one indexed ``SELECT``,
only while bearers are being checked). A revocation therefore takes effect in
every running server, every replica on one PostgreSQL, within a quarter of a
second of its commit (docs/replicas.md).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from charter.domain.audit import EventDraft
from charter.errors import Conflict, InvalidInput, NotFound
from charter.services.audit import AuditService
from charter.services.auth import (
    AUTH_VERSION_KEY,
    Principal,
    UserRole,
    Via,
    digest,
    normalise_email,
)
from charter.services.clock import Clock
from charter.store.auth_schema import auth_api_tokens, auth_pep_keys, auth_users
from charter.store.database import Database
from charter.store.versions import bump_version, read_version

__all__ = [
    "API_TOKEN_PREFIX",
    "PEP_KEY_PREFIX",
    "AccessKeyService",
    "ApiToken",
    "IssuedPepKey",
    "IssuedToken",
    "PepKey",
]

_T = auth_api_tokens
_K = auth_pep_keys
_U = auth_users

API_TOKEN_PREFIX = "chpat_"  # noqa: S105 - a prefix, not a secret
PEP_KEY_PREFIX = "chpep_"
MAX_BEARER_LENGTH = 256
VERSION_CHECK_SECONDS = 0.25
#: Even without a version change, re-read a cached bearer this often (last-used time).
CACHE_SECONDS = 60.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    email: str
    name: str
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class IssuedToken:
    secret: str  # shown once, never stored
    token: ApiToken


@dataclass(frozen=True, slots=True)
class PepKey:
    name: str
    created_at: dt.datetime
    created_by: str
    last_used_at: dt.datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class IssuedPepKey:
    secret: str
    key: PepKey


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=row.id,
        email=row.email,
        name=row.name,
        created_at=_aware(row.created_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
        created_by=row.created_by,
        expires_at=_aware(row.expires_at),
        last_used_at=_aware(row.last_used_at),
        revoked=row.revoked_at is not None,
    )


def _pep(row: Any) -> PepKey:
    return PepKey(
        name=row.name,
        created_at=_aware(row.created_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
        created_by=row.created_by,
        last_used_at=_aware(row.last_used_at),
        revoked=row.revoked_at is not None,
    )


def _check_name(name: str, *, what: str) -> str:
    name = name.strip().lower()
    if not _NAME.match(name):
        raise InvalidInput(
            f"a {what} name is 1-100 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    return name


@dataclass(slots=True)
class _Cached:
    principal: Principal
    until: float  # monotonic
    expires_at: dt.datetime | None


class AccessKeyService:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self._version = -1
        self._version_checked = 0.0

    def forget_cached(self) -> None:
        """Drop every cached bearer now (this process); others follow the change counter."""
        with self._lock:
            self._cache.clear()

    # -- personal API tokens ---------------------------------------------------------
    def create_api_token(
        self, email: str, *, name: str, expires_in: dt.timedelta | None, actor: str
    ) -> IssuedToken:
        email = normalise_email(email)
        name = _check_name(name, what="token")
        if expires_in is not None and expires_in <= dt.timedelta(0):
            raise InvalidInput("a token's lifetime must be positive", field="expires")
        now = self._clock.now()
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = "tok_" + secrets.token_hex(8)
        with self._db.write() as connection:
            user = connection.execute(
                sa.select(_U.c.disabled_at).where(_U.c.email == email)
            ).first()
            if user is None:
                raise NotFound(
                    f"no console user {email} (add one with 'charter users add')", field="user"
                )
            if user.disabled_at is not None:
                raise Conflict(f"console user {email} is disabled", field="user")
            expires = now + expires_in if expires_in is not None else None
            connection.execute(
                sa.insert(_T).values(
                    id=token_id,
                    token_hash=digest(secret),
                    email=email,
                    name=name,
                    created_at=now,
                    created_by=actor,
                    expires_at=expires,
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "api_token.create",
                    "api_token",
                    token_id,
                    None,
                    {"user": email, "name": name, "expires_at": expires},
                ),
            )
            row = connection.execute(sa.select(_T).where(_T.c.id == token_id)).one()
            return IssuedToken(secret, _token(row))

    def list_api_tokens(self, email: str | None = None) -> list[ApiToken]:
        query = sa.select(_T).order_by(_T.c.created_at, _T.c.id)
        if email:
            query = query.where(_T.c.email == normalise_email(email))
        with self._db.read() as connection:
            return [_token(r) for r in connection.execute(query)]

    def revoke_api_token(self, token_id: str, *, actor: str, owner: str | None = None) -> None:
        """Revoke a token; with ``owner``, only one of that user's own tokens."""
        now = self._clock.now()
        with self._db.write() as connection:
            row = connection.execute(sa.select(_T).where(_T.c.id == token_id)).first()
            if row is None or (owner is not None and row.email != owner):
                raise NotFound(f"no API token {token_id!r}", field="id")
            if row.revoked_at is not None:
                return
            connection.execute(sa.update(_T).where(_T.c.id == token_id).values(revoked_at=now))
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "api_token.revoke",
                    "api_token",
                    token_id,
                    None,
                    {"user": row.email, "name": row.name},
                ),
            )
            bump_version(connection, AUTH_VERSION_KEY)
        self.forget_cached()

    # -- PEP keys ----------------------------------------------------------------------
    def add_pep_key(self, name: str, *, actor: str) -> IssuedPepKey:
        name = _check_name(name, what="PEP key")
        now = self._clock.now()
        secret = PEP_KEY_PREFIX + secrets.token_urlsafe(32)
        with self._db.write() as connection:
            if connection.execute(sa.select(_K.c.name).where(_K.c.name == name)).first():
                raise Conflict(f"a PEP key named {name!r} already exists", field="name")
            connection.execute(
                sa.insert(_K).values(
                    name=name, key_hash=digest(secret), created_at=now, created_by=actor
                )
            )
            self._audit.record(connection, EventDraft(actor, "pep_key.add", "pep_key", name))
            row = connection.execute(sa.select(_K).where(_K.c.name == name)).one()
            return IssuedPepKey(secret, _pep(row))

    def list_pep_keys(self) -> list[PepKey]:
        with self._db.read() as connection:
            return [_pep(r) for r in connection.execute(sa.select(_K).order_by(_K.c.name))]

    def revoke_pep_key(self, name: str, *, actor: str) -> None:
        name = name.strip().lower()
        now = self._clock.now()
        with self._db.write() as connection:
            row = connection.execute(sa.select(_K).where(_K.c.name == name)).first()
            if row is None:
                raise NotFound(f"no PEP key named {name!r}", field="name")
            if row.revoked_at is not None:
                return
            connection.execute(sa.update(_K).where(_K.c.name == name).values(revoked_at=now))
            self._audit.record(connection, EventDraft(actor, "pep_key.revoke", "pep_key", name))
            bump_version(connection, AUTH_VERSION_KEY)
        self.forget_cached()

    # -- checking a bearer ----------------------------------------------------------------
    def _refresh_version(self) -> None:
        moment = time.monotonic()
        if moment - self._version_checked < VERSION_CHECK_SECONDS:
            return
        with self._db.read() as connection:
            version = read_version(connection, AUTH_VERSION_KEY)
        with self._lock:
            self._version_checked = moment
            if version != self._version:
                self._version = version
                self._cache.clear()

    def authenticate(self, bearer: str) -> Principal | None:
        """The principal behind a personal API token or a PEP key, or None."""
        if not bearer or len(bearer) > MAX_BEARER_LENGTH:
            return None
        if not bearer.startswith((API_TOKEN_PREFIX, PEP_KEY_PREFIX)):
            return None
        self._refresh_version()
        key = digest(bearer)
        now = self._clock.now()
        cached = self._cache.get(key)
        if cached is not None and cached.until > time.monotonic():
            if cached.expires_at is not None and now >= cached.expires_at:
                return None
            return cached.principal
        found = self._lookup(key, now)
        if found is None:
            self._cache.pop(key, None)
            return None
        principal, expires = found
        with self._lock:
            self._cache[key] = _Cached(principal, time.monotonic() + CACHE_SECONDS, expires)
        return principal

    def _lookup(self, key: str, now: dt.datetime) -> tuple[Principal, dt.datetime | None] | None:
        with self._db.read() as connection:
            token = connection.execute(
                sa.select(
                    _T.c.id,
                    _T.c.email,
                    _T.c.expires_at,
                    _T.c.revoked_at,
                    _U.c.role,
                    _U.c.name,
                    _U.c.disabled_at,
                )
                .join(_U, _U.c.email == _T.c.email)
                .where(_T.c.token_hash == key)
            ).first()
            pep = None
            if token is None:
                pep = connection.execute(
                    sa.select(_K.c.name, _K.c.revoked_at).where(_K.c.key_hash == key)
                ).first()
        if token is not None:
            expires = _aware(token.expires_at)
            if token.revoked_at is not None or token.disabled_at is not None:
                return None
            if expires is not None and now >= expires:
                return None
            self._touch(_T, _T.c.id == token.id, now)
            principal = Principal(
                token.email, UserRole(token.role), Via.API_TOKEN, token.id, name=token.name
            )
            return principal, expires
        if pep is None or pep.revoked_at is not None:
            return None
        self._touch(_K, _K.c.name == pep.name, now)
        return Principal(pep.name, None, Via.PEP_KEY, pep.name), None

    def _touch(self, table: sa.Table, where: sa.ColumnElement[bool], now: dt.datetime) -> None:
        """Record use (at most once per cache period, so not on the hot path)."""
        with self._db.write() as connection:
            connection.execute(sa.update(table).where(where).values(last_used_at=now))
