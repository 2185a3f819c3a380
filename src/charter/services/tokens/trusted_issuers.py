"""Identity providers whose tokens speak for people (the ``subject_token`` of RFC 8693).

An operator trusts an issuer by its ``iss`` value and where its keys are: a
JWKS URL (fetched, cached for five minutes, re-fetched at most every 30 s when
a token names an unknown ``kid``) or a JWKS document read from a file when it
is added (for air-gapped set-ups; re-add to update). ``subject_claim`` names
the claim holding the person's e-mail (``email`` by default, as OIDC puts it);
``audience`` is what the provider puts in ``aud`` for Charter (default: our
issuer identifier).

A JWKS URL must be ``https``, except on a loopback address (development).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from charter.domain.audit import EventDraft
from charter.domain.tokens.jwk import public_key_from_jwk
from charter.domain.tokens.jws import VerificationKey
from charter.domain.tokens.token_exchange import TrustedIssuer
from charter.errors import InvalidInput, NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.tokens.keys import TOKENS_VERSION_KEY
from charter.store.database import Database
from charter.store.tokens_schema import trusted_issuers as _T
from charter.store.versions import bump_version

JWKS_TTL = 300
JWKS_REFRESH_MIN = 30
MAX_JWKS_BYTES = 1024 * 1024

JwksFetcher = Callable[[str], Mapping[str, Any]]


def fetch_jwks(url: str) -> Mapping[str, Any]:
    """GET a JWKS document (no redirects, 5 s, 1 MiB)."""
    with httpx.Client(timeout=5, follow_redirects=False) as client:
        response = client.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200 or len(response.content) > MAX_JWKS_BYTES:
        raise InvalidInput(f"JWKS at {url} answered HTTP {response.status_code}", field="jwks_url")
    document = response.json()
    if not isinstance(document, dict):
        raise InvalidInput(f"JWKS at {url} is not a JSON object", field="jwks_url")
    return document


def jwks_keys(document: Mapping[str, Any]) -> list[VerificationKey]:
    """The usable signing keys of a JWKS (others — encryption keys, unknown types — skipped)."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise InvalidInput("a JWKS has a 'keys' list", field="jwks")
    out: list[VerificationKey] = []
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        try:
            public, _ = public_key_from_jwk(jwk)
        except InvalidInput:
            continue
        out.append(VerificationKey.of(public, str(jwk.get("kid", ""))))
    return out


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        try:
            if parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback:
                return
        except ValueError:
            pass
    raise InvalidInput(
        "a JWKS URL must be https (http only on a loopback address)", field="jwks_url"
    )


class TrustedIssuers:
    """The trusted-issuer registry and a cache of their keys."""

    def __init__(
        self, database: Database, audit: AuditService, clock: Clock, fetch: JwksFetcher = fetch_jwks
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self.fetch = fetch  # replaceable (tests, proxies)
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, list[VerificationKey]]] = {}

    def add(
        self,
        issuer: str,
        *,
        actor: str,
        jwks_url: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        audience: str | None = None,
        subject_claim: str = "email",
    ) -> TrustedIssuer:
        issuer = issuer.strip()
        if not issuer or len(issuer) > 512:
            raise InvalidInput("an issuer is 1 to 512 characters", field="issuer")
        if (jwks_url is None) == (jwks is None):
            raise InvalidInput("give exactly one of a JWKS URL and a JWKS file", field="jwks")
        if jwks_url is not None:
            _check_url(jwks_url)
        if jwks is not None and not jwks_keys(jwks):
            raise InvalidInput("the JWKS holds no usable signing key", field="jwks")
        if not subject_claim or len(subject_claim) > 64:
            raise InvalidInput("subject_claim names one claim", field="subject_claim")
        now = self._clock.now()
        values = {
            "jwks_url": jwks_url,
            "jwks": dict(jwks) if jwks else None,
            "audience": audience,
            "subject_claim": subject_claim,
        }
        with self._db.write() as connection:
            existed = connection.execute(
                sa.select(_T.c.issuer).where(_T.c.issuer == issuer)
            ).first()
            if existed:
                connection.execute(sa.update(_T).where(_T.c.issuer == issuer).values(**values))
            else:
                connection.execute(
                    sa.insert(_T).values(issuer=issuer, created_at=now, created_by=actor, **values)
                )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "idp.trust",
                    "issuer",
                    issuer,
                    None,
                    {
                        "jwks_url": jwks_url,
                        "jwks_file": jwks is not None,
                        "audience": audience,
                        "subject_claim": subject_claim,
                        "updated": bool(existed),
                    },
                ),
            )
            bump_version(connection, TOKENS_VERSION_KEY)
        self._keys.pop(issuer, None)
        return TrustedIssuer(issuer, jwks_url, jwks, audience, subject_claim)

    def remove(self, issuer: str, *, actor: str) -> None:
        with self._db.write() as connection:
            if connection.execute(sa.delete(_T).where(_T.c.issuer == issuer)).rowcount == 0:
                raise NotFound(f"{issuer!r} is not a trusted issuer", field="issuer")
            self._audit.record(
                connection,
                EventDraft(
                    actor, "idp.untrust", "issuer", issuer, {"trusted": True}, {"trusted": False}
                ),
            )
            bump_version(connection, TOKENS_VERSION_KEY)
        self._keys.pop(issuer, None)

    def all(self) -> list[TrustedIssuer]:
        with self._db.read() as connection:
            rows = connection.execute(sa.select(_T).order_by(_T.c.issuer))
            return [
                TrustedIssuer(r.issuer, r.jwks_url, r.jwks, r.audience, r.subject_claim)
                for r in rows
            ]

    def get(self, issuer: str) -> TrustedIssuer | None:
        with self._db.read() as connection:
            row = connection.execute(sa.select(_T).where(_T.c.issuer == issuer)).first()
        if row is None:
            return None
        return TrustedIssuer(row.issuer, row.jwks_url, row.jwks, row.audience, row.subject_claim)

    def keys(self, trusted: TrustedIssuer, kid: str | None) -> list[VerificationKey]:
        """The issuer's keys matching ``kid`` (all of them when the token names none)."""
        found = jwks_keys(trusted.jwks) if trusted.jwks is not None else self._fetched(trusted, kid)
        return [k for k in found if kid is None or k.kid == kid]

    def _fetched(self, trusted: TrustedIssuer, kid: str | None) -> list[VerificationKey]:
        assert trusted.jwks_url is not None
        now = time.monotonic()
        with self._lock:
            cached = self._keys.get(trusted.issuer)
        if cached is not None:
            fetched_at, keys = cached
            known = kid is None or any(k.kid == kid for k in keys)
            if now - fetched_at < JWKS_TTL and (known or now - fetched_at < JWKS_REFRESH_MIN):
                return keys
        keys = jwks_keys(self.fetch(trusted.jwks_url))
        with self._lock:
            self._keys[trusted.issuer] = (now, keys)
        return keys
