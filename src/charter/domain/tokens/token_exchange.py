"""Delegation by token exchange (RFC 8693): an agent acting for a person.

The agent (authenticated by its client assertion; ``actor_token``, if sent,
is another assertion of the same agent) presents the person's token as
``subject_token``. That token is either

* from a **trusted identity provider** (``charter idp trust``): verified
  against the provider's JWKS, ``aud`` naming Charter, the person read from
  its subject claim; or
* a **delegated token Charter issued** to another agent for the same person:
  the new token extends the chain — ``act`` nests (§4.1), the earlier agents
  must still be active, and scopes can only narrow.

The issued token has ``sub`` = the person and ``act`` = ``{sub: agent, …,
act: {earlier agent}}``; its scopes are requested ∩ charter ∩ what the person
may delegate (see :mod:`charter.domain.delegation`) ∩ the subject token's
scopes. ``may_act`` in the subject token (§4.4), when present, must name the
agent. A malformed or unverifiable token is ``invalid_request`` (§2.2.2); a
refusal by policy — no delegation in the charter, a departed person, a chain
too long — is ``invalid_grant``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from charter.domain.tokens.claims import Actor, VerifiedToken
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.domain.tokens.jws import JoseError, VerificationKey, parse_compact

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
CLOCK_SKEW = 30


class TokenType(StrEnum):
    """Token type identifiers (RFC 8693 §3)."""

    ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
    JWT = "urn:ietf:params:oauth:token-type:jwt"
    ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105


SUBJECT_TOKEN_TYPES = frozenset(TokenType)


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """An identity provider whose tokens speak for people (``charter idp trust``)."""

    issuer: str
    jwks_url: str | None
    jwks: Mapping[str, Any] | None
    audience: str | None
    subject_claim: str


class IssuerKeys(Protocol):
    """Which issuers are trusted, and their keys: all a subject token's check needs.

    The trusted-issuer registry satisfies it; the check never learns where the
    registry keeps them or how it fetches and caches a JWKS.
    """

    def get(self, issuer: str) -> TrustedIssuer | None: ...

    def keys(self, trusted: TrustedIssuer, kid: str | None) -> Sequence[VerificationKey]: ...


@dataclass(frozen=True, slots=True)
class ExchangeSubject:
    """Whose authority is being delegated, and its limits."""

    person: str
    issuer: str
    expires_at: int
    may_act: Mapping[str, Any] | None
    #: the agents already in the chain (a Charter-issued subject token), current first
    actors: tuple[Actor, ...] = ()
    #: a ceiling on scopes (a Charter-issued subject token), or None
    scopes: frozenset[str] | None = None


def _bad_subject(message: str, reason: str) -> OAuthError:
    return OAuthError(OAuthErrorCode.INVALID_REQUEST, message, reason=reason, field="subject_token")


def _refused(message: str, reason: str) -> OAuthError:
    return OAuthError(OAuthErrorCode.INVALID_GRANT, message, reason=reason)


def _audience_ok(aud: object, audiences: Collection[str]) -> bool:
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return any(isinstance(a, str) and a in audiences for a in values)


def unverified_issuer(token: str) -> str | None:
    try:
        issuer = parse_compact(token).claims.get("iss")
    except JoseError as exc:
        raise _bad_subject(f"the subject_token is unreadable: {exc.message}", "malformed") from exc
    return issuer if isinstance(issuer, str) else None


def verify_idp_token(
    token: str, trusted: IssuerKeys, *, our_audiences: Collection[str], now: float
) -> ExchangeSubject:
    """Verify a person's token from a trusted identity provider."""
    try:
        compact = parse_compact(token)
    except JoseError as exc:
        raise _bad_subject(f"the subject_token is unreadable: {exc.message}", "malformed") from exc
    claims = compact.claims
    issuer = claims.get("iss")
    config = trusted.get(issuer) if isinstance(issuer, str) else None
    if config is None:
        raise _bad_subject(
            f"subject_token issuer {str(issuer)[:100]!r} is not trusted", "untrusted_issuer"
        )
    keys = trusted.keys(config, compact.kid)
    if not any(key.verify(compact) for key in keys):
        raise _bad_subject("the subject_token's signature does not verify", "bad_signature")
    expires = claims.get("exp")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise _bad_subject("the subject_token has no 'exp'", "malformed")
    if expires <= now - CLOCK_SKEW:
        raise _bad_subject("the subject_token has expired", "subject_expired")
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and not_before > now + CLOCK_SKEW:
        raise _bad_subject("the subject_token is not valid yet", "subject_not_yet_valid")
    audiences = {config.audience} if config.audience else set(our_audiences)
    if not _audience_ok(claims.get("aud"), audiences):
        raise _bad_subject("the subject_token's 'aud' does not name Charter", "wrong_audience")
    person = claims.get(config.subject_claim)
    if not isinstance(person, str) or "@" not in person or len(person) > 320:
        raise _bad_subject(
            f"the subject_token's {config.subject_claim!r} is not an e-mail", "no_person"
        )
    may_act = claims.get("may_act")
    if may_act is not None and not isinstance(may_act, dict):
        raise _bad_subject("the subject_token's 'may_act' is not an object", "malformed")
    return ExchangeSubject(person.strip().lower(), config.issuer, int(expires), may_act)


def subject_from_charter_token(token: VerifiedToken) -> ExchangeSubject:
    """A delegated token we issued, extended by another agent (a nested chain)."""
    if not token.delegated:
        raise _refused(
            f"{token.client_id}'s own token cannot be delegated: only a person's authority can",
            "not_delegated",
        )
    may_act = token.claims.get("may_act")
    return ExchangeSubject(
        person=token.subject,
        issuer=token.issuer,
        expires_at=token.expires_at,
        may_act=may_act if isinstance(may_act, dict) else None,
        actors=token.actors,
        scopes=token.scopes,
    )


def check_may_act(subject: ExchangeSubject, agent: str, our_issuer: str) -> None:
    """RFC 8693 §4.4: when the subject token says who may act, only that party may."""
    if subject.may_act is None:
        return
    named = subject.may_act.get("sub")
    named_issuer = subject.may_act.get("iss")
    if named != agent or (named_issuer is not None and named_issuer != our_issuer):
        raise _refused(f"the subject_token's may_act does not name {agent}", "may_act_mismatch")


def act_claim(agent: str, charter_version: int, earlier: tuple[Actor, ...]) -> dict[str, Any]:
    """The nested ``act`` claim: the new actor outermost, earlier ones inside (§4.1)."""
    inner: dict[str, Any] | None = None
    for actor in reversed(earlier):
        node: dict[str, Any] = {"sub": actor.sub, "charter_version": actor.charter_version}
        if inner is not None:
            node["act"] = inner
        inner = node
    claim: dict[str, Any] = {"sub": agent, "charter_version": charter_version}
    if inner is not None:
        claim["act"] = inner
    return claim
