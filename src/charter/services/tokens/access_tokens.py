"""JWT access tokens (RFC 9068): checking them at machine speed.

What a token says — its claims, :class:`~charter.domain.tokens.claims.VerifiedToken`
— is in :mod:`charter.domain.tokens.claims`. :class:`AccessTokenVerifier` is what
resource servers inside Charter (the gateway, the PDP, introspection) call. A
token is *active* when its signature verifies under a key of the current ring,
its claims hold (RFC 9068 §4), and the store still backs it: not revoked, every
agent in it active with the same charter version and unchanged since issuance,
the person it speaks for still active. Already-verified tokens are cached by
their exact text, which skips the signature and JSON work but never the expiry
or the store checks, so a cached token dies with its agent exactly like a new one.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from typing import Any

from charter.domain.enums import AgentState, PersonStatus
from charter.domain.tokens.claims import VerifiedToken, parse_act
from charter.domain.tokens.errors import InvalidToken
from charter.domain.tokens.jws import JoseError, decode_claims, split_compact
from charter.services.tokens.keys import KeyRing
from charter.services.tokens.state import ValiditySnapshot

AT_TYP = "at+jwt"
_ACCEPTED_TYPS = frozenset({"at+jwt", "application/at+jwt"})
CLOCK_SKEW = 30
CACHE_SIZE = 100_000


def _structure(claims: Mapping[str, Any], kid: str, issuer: str, payload: str) -> VerifiedToken:
    """RFC 9068 §4 checks that need no clock or store: issuer, types of the required claims."""
    if claims.get("iss") != issuer:
        raise InvalidToken("wrong_issuer", "the token was not issued by this server")
    aud = claims.get("aud")
    if type(aud) is str:
        audience: tuple[str, ...] = (aud,)
    elif type(aud) is list and aud and all(type(a) is str for a in aud):
        audience = tuple(aud)
    else:
        raise InvalidToken("malformed", "the token's 'aud' is missing")
    scope = claims.get("scope", "")
    cnf = claims.get("cnf")
    jkt = None
    if cnf is not None:
        jkt = cnf.get("jkt") if type(cnf) is dict else None
        if type(jkt) is not str:
            raise InvalidToken("malformed", "the token's 'cnf' has no 'jkt'")
    act = claims.get("act")
    actors = parse_act(act) if act is not None else ()
    jti, sub, client_id = claims.get("jti"), claims.get("sub"), claims.get("client_id")
    iat, exp, version = claims.get("iat"), claims.get("exp"), claims.get("charter_version")
    if not (
        type(jti) is str
        and jti
        and type(sub) is str
        and sub
        and type(client_id) is str
        and client_id
        and type(scope) is str
    ):
        raise InvalidToken("malformed", "the token lacks a string jti, sub, client_id or scope")
    if not (type(iat) is int and type(exp) is int and type(version) is int):
        raise InvalidToken("malformed", "the token's iat, exp and charter_version must be integers")
    if actors and actors[0].sub != client_id:
        raise InvalidToken("malformed", "the token's current actor is not its client")
    return VerifiedToken(
        jti,
        issuer,
        sub,
        client_id,
        audience,
        tuple(dict.fromkeys(scope.split())),
        iat,
        exp,
        version,
        actors,
        jkt,
        kid,
        payload,
    )


def check_standing(token: VerifiedToken, snapshot: ValiditySnapshot, today: str) -> None:
    """Whether the store still backs ``token`` (raises :class:`InvalidToken` if not)."""
    if token.jti in snapshot.revoked:
        raise InvalidToken("revoked", "the token was revoked")
    if not token.actors:
        _check_agent(token.client_id, token.charter_version, token.issued_at, snapshot, today)
        return
    for actor in token.actors:
        _check_agent(actor.sub, actor.charter_version, token.issued_at, snapshot, today)
    person = snapshot.people.get(token.subject)
    if person is None or person.status != PersonStatus.ACTIVE:
        raise InvalidToken(
            "delegator_departed", f"{token.subject}, on whose behalf the token acts, is not active"
        )


def _check_agent(
    name: str, version: int, issued_at: int, snapshot: ValiditySnapshot, today: str
) -> None:
    """One agent of a token: active, same charter version, unchanged since, not floored."""
    status = snapshot.agents.get(name)
    if (
        status is not None
        and status.state is AgentState.ACTIVE
        and status.charter_version == version
        and issued_at >= status.changed_at
        and (status.expires is None or status.expires >= today)
        and issued_at >= snapshot.floors.get(name, 0)
    ):
        return  # the common case, in one expression; the reasons follow
    if status is None:
        raise InvalidToken("agent_unknown", f"agent {name} is not registered", agent=name)
    if status.state is not AgentState.ACTIVE:
        raise InvalidToken("agent_not_active", f"agent {name} is {status.state}", agent=name)
    if status.charter_version != version:
        raise InvalidToken(
            "charter_changed",
            f"agent {name} is now at charter v{status.charter_version}; the token was "
            f"issued under v{version}",
        )
    if issued_at < status.changed_at:
        raise InvalidToken("agent_changed", f"agent {name} changed after the token was issued")
    if status.expires is not None and status.expires < today:
        raise InvalidToken("charter_expired", f"the charter of {name} has expired", agent=name)
    raise InvalidToken("revoked", f"every earlier token of {name} was revoked")


class AccessTokenVerifier:
    """Verifies access tokens against the key ring and the store's current state."""

    def __init__(
        self,
        issuer: str,
        keyring: Callable[[ValiditySnapshot], KeyRing],
        snapshot: Callable[[bool], ValiditySnapshot],
        now: Callable[[], float],
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.issuer = issuer
        self._keyring = keyring
        self._snapshot = snapshot
        self._now = now
        self._day = (-1, "")
        self._cache: dict[str, VerifiedToken] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _decode(self, token: str, ring: KeyRing) -> VerifiedToken:
        try:
            header, signing_input, signature, payload = split_compact(token)
            if header.get("typ") not in _ACCEPTED_TYPS:
                raise InvalidToken("wrong_type", "not an access token (typ must be at+jwt)")
            kid = header.get("kid")
            key = ring.keys.get(kid) if type(kid) is str else None
            if key is None:
                raise InvalidToken("unknown_key", f"no current signing key {kid!r}")
            check = key.verification
            if not (check.accepts_alg(header["alg"]) and check.check(signature, signing_input)):
                raise InvalidToken("bad_signature", "the token's signature does not verify")
            claims = decode_claims(payload)
        except JoseError as exc:
            raise InvalidToken(exc.reason, exc.message) from exc
        return _structure(claims, key.kid, self.issuer, payload)

    def verify(
        self, token: str, *, audience: str | None = None, fresh: bool = False
    ) -> VerifiedToken:
        """The verified token, or :class:`InvalidToken` with a stable ``reason``."""
        snapshot = self._snapshot(fresh)
        ring = self._keyring(snapshot)
        verified = self._cache.get(token)
        if verified is None or verified.kid not in ring.keys:
            verified = self._decode(token, ring)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()  # dict operations are atomic under the GIL: no lock needed
            self._cache[token] = verified
        now = self._now()
        if verified.expires_at <= now:
            raise InvalidToken("expired", "the token has expired")
        if verified.issued_at > now + CLOCK_SKEW:
            raise InvalidToken("not_yet_valid", "the token was issued in the future")
        if audience is not None and audience not in verified.audience:
            raise InvalidToken("wrong_audience", f"the token is not meant for {audience}")
        check_standing(verified, snapshot, self._today(now))
        return verified

    def _today(self, now: float) -> str:
        """The UTC date of ``now`` as ISO text (charter expiry), computed once a day."""
        day = int(now // 86400)
        if self._day[0] != day:
            self._day = (day, (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat())
        return self._day[1]

    def decode(self, token: str) -> VerifiedToken:
        """Signature and claim structure only — no expiry, no standing (for revocation)."""
        return self._decode(token, self._keyring(self._snapshot(False)))

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
