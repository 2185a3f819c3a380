"""``private_key_jwt`` client authentication (RFC 7523 §2.2, §3; OIDC Core §9).

An agent proves who it is by signing a short JWT with its enrolled key:
``iss`` = ``sub`` = its client id (the agent's name), ``aud`` = this
authorization server (its issuer identifier or its token endpoint URL), ``exp``
within a few minutes, and a ``jti`` that is accepted once. No shared secrets
exist anywhere.

This module checks everything that needs no store write; the ``jti`` it names
(a :class:`~charter.domain.tokens.one_time_use.OneTimeUse`) is consumed by the
issuance ledger in the same commit as the issuance, so a replay is refused by
every replica.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from charter.domain.tokens.errors import OAuthError, OAuthErrorCode, invalid_client
from charter.domain.tokens.jws import JoseError, VerificationKey, parse_compact
from charter.domain.tokens.one_time_use import OneTimeUse

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Longest accepted assertion lifetime (exp - now): "short-lived", RFC 7523 §3 item 4.
MAX_ASSERTION_LIFETIME = 300
CLOCK_SKEW = 30
MAX_JTI_LENGTH = 256
JTI_NAMESPACE = "assertion"


@dataclass(frozen=True, slots=True)
class ClientKey:
    """One enrolled, currently usable key of an agent."""

    agent: str
    key: VerificationKey


@dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    """A client whose assertion verified; ``use`` must still be consumed in the ledger."""

    client_id: str
    kid: str
    use: OneTimeUse


def _audience_ok(aud: object, audiences: Collection[str]) -> bool:
    if isinstance(aud, str):
        return aud in audiences
    if isinstance(aud, list):
        return any(isinstance(a, str) and a in audiences for a in aud)
    return False


def _number(claims: dict[str, object], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_client(f"the assertion's '{name}' is not a NumericDate", reason="malformed")
    return float(value)


def authenticate(
    assertion: str,
    *,
    client_id: str | None,
    keys_for: Callable[[str], Sequence[ClientKey]],
    audiences: Collection[str],
    now: float,
    namespace: str = JTI_NAMESPACE,
) -> AuthenticatedClient:
    """Verify a client assertion JWT (everything but the ``jti`` consumption).

    Raises ``invalid_client`` (HTTP 401) with a stable ``reason``: ``malformed``,
    ``issuer_mismatch``, ``unknown_client``, ``unknown_key``, ``bad_signature``,
    ``assertion_expired``, ``assertion_not_yet_valid``, ``assertion_too_long``,
    ``wrong_audience``, ``missing_jti``.
    """
    try:
        compact = parse_compact(assertion)
    except JoseError as exc:
        raise invalid_client(
            f"the client assertion is unreadable: {exc.message}", reason="malformed"
        ) from exc
    claims = compact.claims
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or issuer != subject:
        raise invalid_client(
            "the assertion's 'iss' and 'sub' must both be the client id", reason="issuer_mismatch"
        )
    if client_id is not None and client_id != issuer:
        raise invalid_client(
            "client_id does not match the assertion's issuer", reason="issuer_mismatch"
        )
    keys = keys_for(issuer)
    if not keys:
        raise invalid_client(f"no enrolled key for client {issuer[:63]!r}", reason="unknown_client")
    kid = compact.kid
    candidates = [k for k in keys if k.key.kid == kid] if kid else list(keys)
    if not candidates:
        raise invalid_client(
            f"key {kid!r} is not enrolled (or was revoked) for {issuer}", reason="unknown_key"
        )
    chosen = next((k for k in candidates if k.key.verify(compact)), None)
    if chosen is None:
        raise invalid_client("the assertion's signature does not verify", reason="bad_signature")
    expires = _number(claims, "exp")
    if expires is None:
        raise invalid_client("the assertion has no 'exp'", reason="malformed")
    if expires <= now - CLOCK_SKEW:
        raise invalid_client("the assertion has expired", reason="assertion_expired")
    if expires > now + MAX_ASSERTION_LIFETIME + CLOCK_SKEW:
        raise invalid_client(
            f"the assertion lives longer than {MAX_ASSERTION_LIFETIME} s; make a fresh, "
            "short-lived one per request",
            reason="assertion_too_long",
        )
    not_before = _number(claims, "nbf")
    issued = _number(claims, "iat")
    if (not_before is not None and not_before > now + CLOCK_SKEW) or (
        issued is not None and issued > now + CLOCK_SKEW
    ):
        raise invalid_client("the assertion is not valid yet", reason="assertion_not_yet_valid")
    if not _audience_ok(claims.get("aud"), audiences):
        raise invalid_client(
            "the assertion's 'aud' must name this authorization server "
            f"({' or '.join(sorted(audiences))})",
            reason="wrong_audience",
        )
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise invalid_client(
            "the assertion needs a unique 'jti' (at most 256 characters)", reason="missing_jti"
        )
    use = OneTimeUse(namespace, issuer, jti, int(expires) + CLOCK_SKEW)
    return AuthenticatedClient(issuer, chosen.key.kid, use)


def require_assertion_type(value: str | None) -> None:
    if value != ASSERTION_TYPE:
        raise OAuthError(
            OAuthErrorCode.INVALID_CLIENT,
            "client authentication must be private_key_jwt: "
            f"client_assertion_type={ASSERTION_TYPE}",
            reason="unsupported_client_auth",
            field="client_assertion_type",
        )


__all__ = [
    "ASSERTION_TYPE",
    "AuthenticatedClient",
    "ClientKey",
    "authenticate",
    "require_assertion_type",
]
