"""JWT access tokens (RFC 9068): what they say, and checking them at machine speed.

An access token is a JWS with header ``typ: at+jwt`` (§2.1) and the claims of
§2.2: ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``, ``iat``, ``jti``,
``scope``; plus ``charter_version`` (the charter the agent held when the token
was issued), ``act`` for a delegated token (RFC 8693 §4.1: ``sub`` is then the
person, ``act.sub`` the agent, nested ``act`` the earlier agents of a chain)
and ``cnf.jkt`` for a DPoP-bound token (RFC 9449 §6.1).

:class:`AccessTokenVerifier` is what resource servers inside Charter (the
gateway, the PDP, introspection) call. A token is *active* when its signature
verifies under a key of the current ring, its claims hold (RFC 9068 §4), and
the store still backs it: not revoked, every agent in it active with the same
charter version and unchanged since issuance, the person it speaks for still
active. Already-verified tokens are cached by their exact text, which skips the
signature and JSON work but never the expiry or the store checks, so a cached
token dies with its agent exactly like a new one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.enums import AgentState, PersonStatus
from charter.tokens.errors import InvalidToken
from charter.tokens.jws import JoseError, parse_compact
from charter.tokens.keys import KeyRing
from charter.tokens.state import Snapshot

AT_TYP = "at+jwt"
_ACCEPTED_TYPS = frozenset({"at+jwt", "application/at+jwt"})
CLOCK_SKEW = 30
MAX_ACT_DEPTH = 5
CACHE_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class Actor:
    """One agent in a token's ``act`` chain (outermost — the current actor — first)."""

    sub: str
    charter_version: int


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """An active access token, as the PDP and the gateway need it."""

    jti: str
    issuer: str
    subject: str
    client_id: str
    audience: tuple[str, ...]
    scopes: frozenset[str]
    issued_at: int
    expires_at: int
    charter_version: int
    actors: tuple[Actor, ...]
    jkt: str | None
    kid: str
    claims: Mapping[str, Any]

    @property
    def agent(self) -> str:
        """The agent presenting the token (``client_id``; for delegation, ``act.sub``)."""
        return self.client_id

    @property
    def delegated(self) -> bool:
        return bool(self.actors)

    @property
    def on_behalf_of(self) -> str | None:
        """The person the agent acts for, or ``None`` for the agent's own token."""
        return self.subject if self.actors else None

    @property
    def delegation_chain(self) -> tuple[str, ...]:
        """Agents from the current actor back to the first one the person delegated to."""
        return tuple(actor.sub for actor in self.actors)

    def allows(self, action: str) -> bool:
        """Whether ``action`` is within the token's scope (the PDP still decides the request)."""
        return action in self.scopes

    def introspection(self) -> dict[str, Any]:
        """RFC 7662 §2.2 members for this (active) token."""
        body: dict[str, Any] = {
            "active": True,
            "scope": " ".join(sorted(self.scopes)),
            "client_id": self.client_id,
            "token_type": "DPoP" if self.jkt else "Bearer",
            "exp": self.expires_at,
            "iat": self.issued_at,
            "sub": self.subject,
            "aud": list(self.audience) if len(self.audience) != 1 else self.audience[0],
            "iss": self.issuer,
            "jti": self.jti,
            "charter_version": self.charter_version,
        }
        if "act" in self.claims:
            body["act"] = self.claims["act"]
        if self.jkt:
            body["cnf"] = {"jkt": self.jkt}
        return body


def access_token_claims(
    *,
    issuer: str,
    subject: str,
    client_id: str,
    audience: tuple[str, ...],
    scopes: tuple[str, ...],
    issued_at: int,
    expires_at: int,
    jti: str,
    charter_version: int,
    act: Mapping[str, Any] | None = None,
    jkt: str | None = None,
) -> dict[str, Any]:
    """The RFC 9068 §2.2 claim set (``aud`` a string when there is one audience)."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience[0] if len(audience) == 1 else list(audience),
        "client_id": client_id,
        "iat": issued_at,
        "exp": expires_at,
        "jti": jti,
        "scope": " ".join(scopes),
        "charter_version": charter_version,
    }
    if act is not None:
        claims["act"] = dict(act)
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    return claims


def _int_claim(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidToken("malformed", f"the token's '{name}' is missing or not an integer")
    return value


def _str_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidToken("malformed", f"the token's '{name}' is missing or not a string")
    return value


def parse_act(act: Any, depth: int = 0) -> tuple[Actor, ...]:
    """Flatten a nested RFC 8693 ``act`` claim, current actor first."""
    if act is None:
        return ()
    if not isinstance(act, dict) or depth >= MAX_ACT_DEPTH:
        raise InvalidToken("malformed", "the token's 'act' claim is not a valid actor chain")
    sub = act.get("sub")
    version = act.get("charter_version")
    if not isinstance(sub, str) or isinstance(version, bool) or not isinstance(version, int):
        raise InvalidToken("malformed", "each 'act' needs 'sub' and 'charter_version'")
    return (Actor(sub, version), *parse_act(act.get("act"), depth + 1))


def _structure(claims: Mapping[str, Any], kid: str, issuer: str) -> VerifiedToken:
    if claims.get("iss") != issuer:
        raise InvalidToken("wrong_issuer", "the token was not issued by this server")
    aud = claims.get("aud")
    audience = (aud,) if isinstance(aud, str) else tuple(aud) if isinstance(aud, list) else ()
    if not audience or not all(isinstance(a, str) for a in audience):
        raise InvalidToken("malformed", "the token's 'aud' is missing")
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidToken("malformed", "the token's 'scope' is not a string")
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if cnf is not None and not isinstance(jkt, str):
        raise InvalidToken("malformed", "the token's 'cnf' has no 'jkt'")
    actors = parse_act(claims.get("act"))
    client_id = _str_claim(claims, "client_id")
    if actors and actors[0].sub != client_id:
        raise InvalidToken("malformed", "the token's current actor is not its client")
    return VerifiedToken(
        jti=_str_claim(claims, "jti"),
        issuer=issuer,
        subject=_str_claim(claims, "sub"),
        client_id=client_id,
        audience=audience,
        scopes=frozenset(s for s in scope.split(" ") if s),
        issued_at=_int_claim(claims, "iat"),
        expires_at=_int_claim(claims, "exp"),
        charter_version=_int_claim(claims, "charter_version"),
        actors=actors,
        jkt=jkt,
        kid=kid,
        claims=claims,
    )


def check_standing(token: VerifiedToken, snapshot: Snapshot, today: str) -> None:
    """Whether the store still backs ``token`` (raises :class:`InvalidToken` if not)."""
    if token.jti in snapshot.revoked:
        raise InvalidToken("revoked", "the token was revoked")
    chain = token.actors or (Actor(token.client_id, token.charter_version),)
    for actor in chain:
        status = snapshot.agents.get(actor.sub)
        if status is None:
            raise InvalidToken("agent_unknown", f"agent {actor.sub} is not registered")
        if status.state != AgentState.ACTIVE:
            raise InvalidToken("agent_not_active", f"agent {actor.sub} is {status.state}")
        if status.charter_version != actor.charter_version:
            raise InvalidToken(
                "charter_changed",
                f"agent {actor.sub} is now at charter v{status.charter_version}; the token was "
                f"issued under v{actor.charter_version}",
            )
        if token.issued_at < status.changed_at:
            raise InvalidToken(
                "agent_changed", f"agent {actor.sub} changed after the token was issued"
            )
        if status.expires is not None and status.expires < today:
            raise InvalidToken("charter_expired", f"the charter of {actor.sub} has expired")
        if token.issued_at < snapshot.floors.get(actor.sub, 0):
            raise InvalidToken("revoked", f"every earlier token of {actor.sub} was revoked")
    if token.actors:
        person = snapshot.people.get(token.subject)
        if person is None or person.status != PersonStatus.ACTIVE:
            raise InvalidToken(
                "delegator_departed",
                f"{token.subject}, on whose behalf the token acts, is not active",
            )


class AccessTokenVerifier:
    """Verifies access tokens against the key ring and the store's current state."""

    def __init__(
        self,
        issuer: str,
        keyring: Callable[[Snapshot], KeyRing],
        snapshot: Callable[[bool], Snapshot],
        now: Callable[[], float],
        today: Callable[[], str],
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.issuer = issuer
        self._keyring = keyring
        self._snapshot = snapshot
        self._now = now
        self._today = today
        self._cache: dict[str, VerifiedToken] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _decode(self, token: str, ring: KeyRing) -> VerifiedToken:
        try:
            compact = parse_compact(token)
        except JoseError as exc:
            raise InvalidToken(exc.reason, exc.message) from exc
        if compact.header.get("typ") not in _ACCEPTED_TYPS:
            raise InvalidToken("wrong_type", "not an access token (typ must be at+jwt)")
        kid = compact.kid
        key = ring.verification_key(kid)
        if key is None or kid is None:
            raise InvalidToken("unknown_key", f"no current signing key {kid!r}")
        if not key.verify(compact):
            raise InvalidToken("bad_signature", "the token's signature does not verify")
        return _structure(compact.claims, kid, self.issuer)

    def verify(
        self, token: str, *, audience: str | None = None, fresh: bool = False
    ) -> VerifiedToken:
        """The verified token, or :class:`InvalidToken` with a stable ``reason``."""
        snapshot = self._snapshot(fresh)
        ring = self._keyring(snapshot)
        verified = self._cache.get(token)
        if verified is None or verified.kid not in ring.keys:
            verified = self._decode(token, ring)
            with self._lock:
                if len(self._cache) >= self._cache_size:
                    self._cache.clear()
                self._cache[token] = verified
        now = self._now()
        if verified.expires_at <= now:
            raise InvalidToken("expired", "the token has expired")
        if verified.issued_at > now + CLOCK_SKEW:
            raise InvalidToken("not_yet_valid", "the token was issued in the future")
        if audience is not None and audience not in verified.audience:
            raise InvalidToken("wrong_audience", f"the token is not meant for {audience}")
        check_standing(verified, snapshot, self._today())
        return verified

    def decode(self, token: str) -> VerifiedToken:
        """Signature and claim structure only — no expiry, no standing (for revocation)."""
        return self._decode(token, self._keyring(self._snapshot(False)))

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
