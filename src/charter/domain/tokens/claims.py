"""What a JWT access token (RFC 9068) says: its claims, and the verified token as read.

An access token is a JWS with header ``typ: at+jwt`` (§2.1) and the claims of
§2.2: ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``, ``iat``, ``jti``,
``scope``; plus ``charter_version`` (the charter the agent held when the token
was issued), ``act`` for a delegated token (RFC 8693 §4.1: ``sub`` is then the
person, ``act.sub`` the agent, nested ``act`` the earlier agents of a chain)
and ``cnf.jkt`` for a DPoP-bound token (RFC 9449 §6.1).

These are values and pure functions, so token exchange (a domain concern) can
read a token Charter issued without reaching the verifier, which needs the key
ring and the store's current state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from charter.domain.tokens.errors import InvalidToken
from charter.domain.tokens.jws import decode_claims

#: the deepest ``act`` chain accepted (agents acting for agents acting for a person)
MAX_ACT_DEPTH = 5


class Actor(NamedTuple):
    """One agent in a token's ``act`` chain (outermost — the current actor — first)."""

    sub: str
    charter_version: int


class VerifiedToken(NamedTuple):
    """An active access token, as the PDP and the gateway need it.

    A named tuple of strings, numbers and tuples — nothing else — rather than a
    frozen dataclass holding the claims dict: one is built per verification (a
    dataclass costs microseconds), and thousands sit in the verified-token cache,
    where the garbage collector can untrack tuples of atoms but must keep
    walking dicts and sets. A full collection walking a large cache is what
    made long runs slow; the claims are decoded again only when asked for.
    """

    jti: str
    issuer: str
    subject: str
    client_id: str
    audience: tuple[str, ...]
    scope_names: tuple[str, ...]
    issued_at: int
    expires_at: int
    charter_version: int
    actors: tuple[Actor, ...]
    jkt: str | None
    kid: str
    #: the payload segment as issued (see :attr:`claims`)
    payload: str

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope_names)

    @property
    def claims(self) -> dict[str, Any]:
        """Every claim of the token (decoded from the payload on each access)."""
        return decode_claims(self.payload)

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
        return action in self.scope_names

    def introspection(self) -> dict[str, Any]:
        """RFC 7662 §2.2 members for this (active) token."""
        body: dict[str, Any] = {
            "active": True,
            "scope": " ".join(self.scope_names),
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
        if self.actors:
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
