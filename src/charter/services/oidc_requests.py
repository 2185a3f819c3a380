"""Pending OpenID Connect sign-ins: what the callback needs to finish one.

The console redirects to the identity provider with a random ``state``; the store
keeps only its SHA-256 digest with the PKCE verifier, the nonce and where to go
after sign-in, for ten minutes. The callback takes the request at most once, so a
replayed ``state`` finds nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from charter.services.auth import digest
from charter.services.clock import Clock
from charter.store.auth_schema import auth_oidc_requests
from charter.store.database import Database

__all__ = ["OIDC_REQUEST_LIFETIME", "OidcRequest", "OidcRequests"]

_O = auth_oidc_requests
OIDC_REQUEST_LIFETIME = dt.timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class OidcRequest:
    code_verifier: str
    nonce: str
    next_url: str


class OidcRequests:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    def save(self, state: str, request: OidcRequest) -> None:
        now = self._clock.now()
        with self._db.write() as connection:
            connection.execute(sa.delete(_O).where(_O.c.expires_at < now))
            connection.execute(
                sa.insert(_O).values(
                    state_hash=digest(state),
                    code_verifier=request.code_verifier,
                    nonce=request.nonce,
                    next_url=request.next_url,
                    created_at=now,
                    expires_at=now + OIDC_REQUEST_LIFETIME,
                )
            )

    def take(self, state: str) -> OidcRequest | None:
        """The pending request for ``state``, at most once (a replayed state gets None)."""
        if not state or len(state) > 256:
            return None
        key = digest(state)
        now = self._clock.now()
        with self._db.write() as connection:
            row = connection.execute(sa.select(_O).where(_O.c.state_hash == key)).first()
            if row is None:
                return None
            connection.execute(sa.delete(_O).where(_O.c.state_hash == key))
        expires = row.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if now >= (expires or now):
            return None
        return OidcRequest(row.code_verifier, row.nonce, row.next_url)
