"""Shared Signals (OpenID SSF 1.0): Security Event Tokens out of audit events, and back in.

Pure code, no I/O. What a transmitter sends is a SET (RFC 8417): ``iss``, ``jti``,
``iat``, ``aud``, the subject as a top-level ``sub_id`` (RFC 9493 subject
identifier, as SSF 1.0 places it) and one event under ``events``. Which audit
events become which SET:

=========================================  ==========================================
audit action                               SET event (CAEP 1.0)
=========================================  ==========================================
``agent.suspend``, ``agent.decommission``  ``session-revoked`` for the agent
``token.revoke_all``                       ``session-revoked`` for the agent
``token.revoke``                           ``session-revoked`` for the one token
                                           (``complex``: the agent and the ``jti``)
``agent.key_revoke``                       ``credential-change``, ``change_type: revoke``
``agent.update`` with a new charter        ``token-claims-change`` (the new charter
version                                    version: tokens of the old one are inactive)
=========================================  ==========================================

An agent is named ``iss_sub``: our issuer and the agent's name (the ``sub`` of its
tokens). The stream's own events (verification, stream-updated) use SSF's URIs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from charter.errors import InvalidInput

SPEC_VERSION = "1_0"
PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
SET_TYPE = "secevent+jwt"

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
SSF = "https://schemas.openid.net/secevent/ssf/event-type/"
SESSION_REVOKED = CAEP + "session-revoked"
CREDENTIAL_CHANGE = CAEP + "credential-change"
TOKEN_CLAIMS_CHANGE = CAEP + "token-claims-change"
ACCOUNT_DISABLED = RISC + "account-disabled"
VERIFICATION = SSF + "verification"
STREAM_UPDATED = SSF + "stream-updated"

#: what Charter transmits (a stream may request a subset)
EVENTS_SUPPORTED = (SESSION_REVOKED, CREDENTIAL_CHANGE, TOKEN_CLAIMS_CHANGE)
#: what Charter acts on as a receiver
EVENTS_RECEIVED = (ACCOUNT_DISABLED, SESSION_REVOKED)
#: the audit actions that may become a SET (checked before anything reads the store)
SIGNALLED_ACTIONS = frozenset(
    {
        "agent.suspend",
        "agent.decommission",
        "token.revoke",
        "token.revoke_all",
        "agent.key_revoke",
        "agent.update",
    }
)
STATUSES = ("enabled", "paused", "disabled")
MAX_DESCRIPTION = 500
_AUDIENCE = re.compile(r"^[\x21-\x7e]{1,512}$")


@dataclass(frozen=True, slots=True)
class Signal:
    """One SET's content before it gets ``aud``, ``jti`` and a signature."""

    event_type: str
    subject: dict[str, Any]
    payload: dict[str, Any]
    #: the agent (or person) this signal is about, to match a stream's subjects
    about: str


def agent_subject(issuer: str, agent: str) -> dict[str, Any]:
    return {"format": "iss_sub", "iss": issuer, "sub": agent}


def _caep(event_timestamp: int, actor: str, reason: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_timestamp": event_timestamp,
        "initiating_entity": "system" if actor in ("worker", "charter") else "admin",
    }
    if reason:
        body["reason_admin"] = {"en": reason}
    return body


def signals_for(
    issuer: str,
    action: str,
    target: str,
    actor: str,
    before: Any,
    after: Any,
    event_timestamp: int,
) -> list[Signal]:
    """The SETs one audit event means (none for most actions)."""
    if action not in SIGNALLED_ACTIONS:
        return []
    after = after if isinstance(after, Mapping) else {}
    before = before if isinstance(before, Mapping) else {}
    reason = after.get("reason") if isinstance(after.get("reason"), str) else None
    agent = agent_subject(issuer, target)
    common = _caep(event_timestamp, actor, reason)
    if action in ("agent.suspend", "agent.decommission", "token.revoke_all"):
        return [Signal(SESSION_REVOKED, agent, common, target)]
    if action == "token.revoke":
        session = {"format": "opaque", "id": str(after.get("jti", ""))}
        subject = {"format": "complex", "user": agent, "session": session}
        return [Signal(SESSION_REVOKED, subject, common, target)]
    if action == "agent.key_revoke":
        payload = {**common, "credential_type": "app", "change_type": "revoke"}
        if isinstance(after.get("kid"), str):
            payload["friendly_name"] = after["kid"]
        return [Signal(CREDENTIAL_CHANGE, agent, payload, target)]
    # agent.update: only a new charter version changes what the agent's tokens may claim
    new, old = after.get("charter_version"), before.get("charter_version")
    if isinstance(new, int) and new != old:
        payload = {**common, "claims": {"charter_version": new}}
        return [Signal(TOKEN_CLAIMS_CHANGE, agent, payload, target)]
    return []


def set_claims(
    issuer: str, audience: str, jti: str, iat: int, signal: Signal, txn: str | None = None
) -> dict[str, Any]:
    """The SET (RFC 8417 §2.2) for ``signal``, as SSF 1.0 lays it out."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "jti": jti,
        "iat": iat,
        "aud": audience,
        "sub_id": signal.subject,
        "events": {signal.event_type: signal.payload},
    }
    if txn:
        claims["txn"] = txn
    return claims


def configuration(issuer: str) -> dict[str, Any]:
    """``/.well-known/ssf-configuration`` (SSF 1.0 §7.1)."""
    base = issuer.rstrip("/")
    return {
        "spec_version": SPEC_VERSION,
        "issuer": base,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "delivery_methods_supported": [PUSH, POLL],
        "configuration_endpoint": f"{base}/v1/ssf/streams",
        "status_endpoint": f"{base}/v1/ssf/status",
        "add_subject_endpoint": f"{base}/v1/ssf/subjects:add",
        "remove_subject_endpoint": f"{base}/v1/ssf/subjects:remove",
        "verification_endpoint": f"{base}/v1/ssf/verify",
        "critical_subject_members": ["user"],
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6750"}],
        "default_subjects": "ALL",
    }


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """A stream as a receiver asks for it (create or replace), checked."""

    audience: str
    method: str
    endpoint_url: str | None
    authorization_header: str | None
    events_requested: tuple[str, ...]
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal (``127.attacker.example`` is a name, not one)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_push_url(url: str) -> str:
    """A push endpoint: https, or http on a loopback address (development)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("delivery.endpoint_url must be an absolute URL", field="endpoint_url")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise InvalidInput(
            "delivery.endpoint_url must be https (http only on a loopback address)",
            field="endpoint_url",
        )
    return url


def parse_stream_request(document: Any) -> StreamRequest:
    """A stream configuration (SSF 1.0 §8.1.1) from a receiver's JSON; InvalidInput names the
    field. Only ``aud``, ``delivery``, ``events_requested`` and ``description`` are the
    receiver's to set; the rest is the transmitter's."""
    if not isinstance(document, Mapping):
        raise InvalidInput("the stream configuration must be a JSON object", field="body")
    delivery = document.get("delivery") or {"method": POLL}
    if not isinstance(delivery, Mapping):
        raise InvalidInput("delivery must be an object", field="delivery")
    method = delivery.get("method")
    if method not in (PUSH, POLL):
        raise InvalidInput(f"delivery.method must be {PUSH} or {POLL}", field="delivery.method")
    endpoint_url = delivery.get("endpoint_url")
    header = delivery.get("authorization_header")
    if method == PUSH:
        if not isinstance(endpoint_url, str):
            raise InvalidInput("push delivery needs endpoint_url", field="delivery.endpoint_url")
        check_push_url(endpoint_url)
        if header is not None and (not isinstance(header, str) or len(header) > 2048):
            raise InvalidInput(
                "authorization_header must be a string", field="delivery.authorization_header"
            )
    else:
        endpoint_url, header = None, None
    audience = document.get("aud")
    if isinstance(audience, list) and len(audience) == 1:
        audience = audience[0]
    if not isinstance(audience, str) or not _AUDIENCE.match(audience):
        raise InvalidInput("aud must be one audience string (the receiver)", field="aud")
    requested = document.get("events_requested", list(EVENTS_SUPPORTED))
    if not isinstance(requested, Sequence) or isinstance(requested, str):
        raise InvalidInput(
            "events_requested must be a list of event URIs", field="events_requested"
        )
    unknown = [e for e in requested if not isinstance(e, str) or len(e) > 256]
    if unknown:
        raise InvalidInput("events_requested holds a non-URI", field="events_requested")
    description = document.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"description must be a string of at most {MAX_DESCRIPTION} characters",
            field="description",
        )
    return StreamRequest(audience, method, endpoint_url, header, tuple(requested), description)


def delivered(requested: Sequence[str]) -> list[str]:
    """``events_delivered``: what was asked for and Charter sends."""
    return [e for e in EVENTS_SUPPORTED if e in requested]


def subject_key(subject: Any) -> str:
    """The agent or person a subject identifier names (what a stream's subject list keys on)."""
    if not isinstance(subject, Mapping):
        raise InvalidInput("subject must be an RFC 9493 subject identifier", field="subject")
    fmt = subject.get("format")
    if fmt == "iss_sub" and isinstance(subject.get("sub"), str):
        return str(subject["sub"])
    if fmt == "email" and isinstance(subject.get("email"), str):
        return str(subject["email"]).strip().lower()
    if fmt == "opaque" and isinstance(subject.get("id"), str):
        return str(subject["id"])
    if fmt == "complex" and isinstance(subject.get("user"), Mapping):
        return subject_key(subject["user"])
    raise InvalidInput(
        "subject must be iss_sub, email, opaque or complex with a user", field="subject"
    )


@dataclass(frozen=True, slots=True)
class PollRequest:
    """An RFC 8936 poll: what is acknowledged, and how many SETs to return."""

    ack: tuple[str, ...]
    errors: dict[str, Any]
    max_events: int
    return_immediately: bool


MAX_POLL = 100


def parse_poll(document: Any) -> PollRequest:
    if not isinstance(document, Mapping):
        raise InvalidInput("the poll request must be a JSON object", field="body")
    ack = document.get("ack", [])
    if not isinstance(ack, list) or not all(isinstance(j, str) and len(j) <= 128 for j in ack):
        raise InvalidInput("ack must be a list of jti strings", field="ack")
    errors = document.get("setErrs", {})
    if not isinstance(errors, Mapping):
        raise InvalidInput("setErrs must be an object", field="setErrs")
    max_events = document.get("maxEvents", MAX_POLL)
    if not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 0:
        raise InvalidInput("maxEvents must be a non-negative integer", field="maxEvents")
    immediately = document.get("returnImmediately", True)
    if not isinstance(immediately, bool):
        raise InvalidInput("returnImmediately must be true or false", field="returnImmediately")
    return PollRequest(tuple(ack), dict(errors), min(max_events, MAX_POLL), immediately)
