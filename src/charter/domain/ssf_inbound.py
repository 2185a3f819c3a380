"""SETs received from the company's IdP (RFC 8935 push): checked, then read as what to do.

The IdP is a trusted issuer (``charter idp trust``): its JWKS verifies the SET's
signature, ``iss`` must name it, ``aud`` must hold the audience it was trusted with.
Errors carry the RFC 8935 §2.4 error codes (``invalid_request``, ``invalid_key``,
``invalid_issuer``, ``invalid_audience``). Charter acts on two events about a person:

* RISC ``account-disabled``: the person is departed (every delegation ends) and
  every token acting for them is revoked;
* CAEP ``session-revoked``: every token acting for them is revoked (the person
  stays in the directory and may delegate again).

A person is named by an ``email`` subject, an ``iss_sub`` whose ``sub`` is an
e-mail, or a ``complex`` subject whose ``user`` is one of those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.ssf import ACCOUNT_DISABLED, EVENTS_RECEIVED, SESSION_REVOKED, SET_TYPE
from charter.domain.tokens.jws import Compact, JoseError, VerificationKey, parse_compact

#: a SET older than this is refused (the replay table keeps jtis this long)
MAX_AGE = 7 * 24 * 3600
#: clock skew allowed on ``iat`` in the future
LEEWAY = 300


class SetRefused(Exception):
    """A SET that is not accepted: ``err`` is the RFC 8935 error code."""

    def __init__(self, err: str, description: str) -> None:
        super().__init__(description)
        self.err = err
        self.description = description


@dataclass(frozen=True, slots=True)
class Received:
    issuer: str
    jti: str
    iat: int
    #: (event type, person e-mail) for each event Charter acts on
    actions: tuple[tuple[str, str], ...]


def person_of(subject: Any) -> str | None:
    if not isinstance(subject, Mapping):
        return None
    fmt = subject.get("format")
    value: Any = None
    if fmt == "email":
        value = subject.get("email")
    elif fmt == "iss_sub":
        value = subject.get("sub")
    elif fmt == "complex":
        return person_of(subject.get("user"))
    if isinstance(value, str) and "@" in value and len(value) <= 320:
        return value.strip().lower()
    return None


def unverified(token: str) -> Compact:
    try:
        compact = parse_compact(token)
    except JoseError as exc:
        raise SetRefused("invalid_request", f"not a compact JWS: {exc.message}") from None
    typ = compact.header.get("typ")
    if typ is not None and str(typ).lower() not in (SET_TYPE, "application/" + SET_TYPE):
        raise SetRefused("invalid_request", f"typ must be {SET_TYPE}")
    issuer = compact.claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise SetRefused("invalid_issuer", "the SET has no iss")
    return compact


def check(
    compact: Compact,
    keys: Iterable[VerificationKey],
    audience: str,
    now: float,
    *,
    seen: Callable[[str], bool] | None = None,
) -> Received:
    """Signature, ``aud``, ``iat``, ``jti`` and ``events`` of a SET whose issuer is trusted."""
    if not any(key.verify(compact) for key in keys):
        raise SetRefused("invalid_key", "the signature does not verify with the issuer's keys")
    claims = compact.claims
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise SetRefused("invalid_audience", f"aud must include {audience}")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 128:
        raise SetRefused("invalid_request", "the SET has no usable jti")
    iat = claims.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise SetRefused("invalid_request", "the SET has no iat")
    if iat > now + LEEWAY or iat < now - MAX_AGE:
        raise SetRefused("invalid_request", "iat is too far from now")
    if "exp" in claims:
        raise SetRefused("invalid_request", "a SET must not carry exp (RFC 8417 §2.2)")
    events = claims.get("events")
    if not isinstance(events, Mapping) or not events:
        raise SetRefused("invalid_request", "the SET has no events")
    actions: list[tuple[str, str]] = []
    for event_type, body in events.items():
        if event_type not in EVENTS_RECEIVED:
            continue  # other events are accepted and ignored (RFC 8935 §2.2)
        subject = claims.get("sub_id")
        if isinstance(body, Mapping) and "subject" in body:  # the pre-1.0 CAEP layout
            subject = body["subject"]
        person = person_of(subject)
        if person is None:
            raise SetRefused("invalid_request", f"{event_type}: the subject names no person")
        actions.append((event_type, person))
    if seen is not None and seen(jti):
        return Received(str(claims["iss"]), jti, iat, ())
    return Received(str(claims["iss"]), jti, iat, tuple(actions))


def departs(event_type: str) -> bool:
    """Whether the event ends the person's standing (not only their sessions)."""
    return event_type == ACCOUNT_DISABLED


__all__ = [
    "ACCOUNT_DISABLED",
    "SESSION_REVOKED",
    "Received",
    "SetRefused",
    "check",
    "departs",
    "person_of",
    "unverified",
]
