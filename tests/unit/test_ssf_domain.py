"""The pure Shared Signals code: which audit events become which SETs, stream and poll
requests checked field by field, SETs from an IdP checked claim by claim, and the OCSF
rules every SIEM event passes."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from charter.domain import siem_ocsf, ssf, ssf_inbound
from charter.domain.tokens.jwk import Alg, generate_private_key
from charter.domain.tokens.jws import VerificationKey, parse_compact, sign
from charter.errors import InvalidInput

ISS = "https://charter.acme.example"


def _one(action: str, before: Any = None, after: Any = None) -> list[ssf.Signal]:
    return ssf.signals_for(ISS, action, "bot", "admin@acme.example", before, after, 1700000000)


def test_audit_actions_map_to_caep_events() -> None:
    (suspend,) = _one("agent.suspend", {"state": "active"}, {"reason": "leak"})
    assert suspend.event_type == ssf.SESSION_REVOKED
    assert suspend.subject == {"format": "iss_sub", "iss": ISS, "sub": "bot"}
    assert suspend.payload == {
        "event_timestamp": 1700000000,
        "initiating_entity": "admin",
        "reason_admin": {"en": "leak"},
    }
    (one_token,) = _one("token.revoke", None, {"jti": "j1"})
    assert one_token.subject["format"] == "complex"
    assert one_token.subject["session"] == {"format": "opaque", "id": "j1"}
    (key,) = _one("agent.key_revoke", None, {"kid": "k1"})
    assert key.event_type == ssf.CREDENTIAL_CHANGE and key.payload["change_type"] == "revoke"
    (narrowed,) = _one("agent.update", {"charter_version": 1}, {"charter_version": 2})
    assert narrowed.event_type == ssf.TOKEN_CLAIMS_CHANGE
    assert narrowed.payload["claims"] == {"charter_version": 2}
    assert _one("agent.update", {"charter_version": 2}, {"charter_version": 2}) == []
    assert _one("agent.register", None, {}) == []
    (system,) = ssf.signals_for(ISS, "agent.suspend", "bot", "worker", None, {}, 1)
    assert system.payload["initiating_entity"] == "system"


def test_set_claims_follow_ssf_1_0() -> None:
    (signal,) = _one("agent.decommission", None, {})
    claims = ssf.set_claims(ISS, "aud-1", "jti-1", 5, signal, txn="audit:7")
    assert set(claims) == {"iss", "jti", "iat", "aud", "sub_id", "events", "txn"}
    assert "exp" not in claims and list(claims["events"]) == [ssf.SESSION_REVOKED]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], "body"),
        ({"aud": ""}, "aud"),
        ({"aud": "x", "delivery": {"method": "email"}}, "delivery.method"),
        ({"aud": "x", "delivery": {"method": ssf.PUSH}}, "delivery.endpoint_url"),
        (
            {"aud": "x", "delivery": {"method": ssf.PUSH, "endpoint_url": "http://siem.example"}},
            "endpoint_url",
        ),
        (  # a name that merely starts like a loopback address is not one
            {
                "aud": "x",
                "delivery": {"method": ssf.PUSH, "endpoint_url": "http://127.evil.example/"},
            },
            "endpoint_url",
        ),
        ({"aud": "x", "events_requested": "all"}, "events_requested"),
        ({"aud": "x", "description": "d" * 501}, "description"),
    ],
)
def test_bad_stream_requests_name_the_field(document: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        ssf.parse_stream_request(document)
    assert refused.value.field == field


def test_a_stream_request_defaults_to_poll_and_every_event() -> None:
    request = ssf.parse_stream_request({"aud": ["urn:siem"]})
    assert (request.audience, request.method, request.endpoint_url) == ("urn:siem", ssf.POLL, None)
    assert ssf.delivered(request.events_requested) == list(ssf.EVENTS_SUPPORTED)
    for url in (
        "http://127.0.0.1:9/r",
        "http://127.8.9.1/r",
        "http://[::1]:9/r",
        "http://localhost/",
    ):
        loopback = {"method": ssf.PUSH, "endpoint_url": url}
        assert ssf.parse_stream_request({"aud": "a", "delivery": loopback}).method == ssf.PUSH


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"ack": "j"}, "ack"),
        ({"maxEvents": -1}, "maxEvents"),
        ({"maxEvents": True}, "maxEvents"),
        ({"returnImmediately": "yes"}, "returnImmediately"),
        ({"setErrs": []}, "setErrs"),
    ],
)
def test_bad_polls_name_the_field(document: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        ssf.parse_poll(document)
    assert refused.value.field == field
    assert ssf.parse_poll({"maxEvents": 10**6}).max_events == ssf.MAX_POLL


def test_subject_keys() -> None:
    assert ssf.subject_key({"format": "email", "email": "A@x.example"}) == "a@x.example"
    assert ssf.subject_key({"format": "complex", "user": {"format": "iss_sub", "sub": "b"}}) == "b"
    with pytest.raises(InvalidInput):
        ssf.subject_key({"format": "phone_number", "phone_number": "+1"})


IDP = "https://idp.acme.example"
KEY = generate_private_key(Alg.ES256)


def _incoming(**overrides: Any) -> tuple[ssf_inbound.Received, None] | str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": IDP,
        "jti": "j-1",
        "iat": now,
        "aud": ["urn:charter"],
        "sub_id": {"format": "complex", "user": {"format": "email", "email": "Maria@acme.example"}},
        "events": {ssf.ACCOUNT_DISABLED: {}, "urn:other": {}},
    }
    claims.update(overrides)
    token = sign(
        {k: v for k, v in claims.items() if v is not None}, KEY, kid="k", typ="secevent+jwt"
    )
    keys = [VerificationKey.of(KEY.public_key(), "k")]
    try:
        return ssf_inbound.check(ssf_inbound.unverified(token), keys, "urn:charter", now), None
    except ssf_inbound.SetRefused as exc:
        return exc.err


def test_an_idp_set_names_what_to_do() -> None:
    received, _ = _incoming()  # type: ignore[misc]
    assert received.actions == ((ssf.ACCOUNT_DISABLED, "maria@acme.example"),)
    assert ssf_inbound.departs(ssf.ACCOUNT_DISABLED)
    assert not ssf_inbound.departs(ssf.SESSION_REVOKED)


@pytest.mark.parametrize(
    ("overrides", "err"),
    [
        ({"aud": "urn:someone-else"}, "invalid_audience"),
        ({"iss": None}, "invalid_issuer"),
        ({"jti": None}, "invalid_request"),
        ({"iat": int(time.time()) - 8 * 86400}, "invalid_request"),
        ({"iat": int(time.time()) + 3600}, "invalid_request"),
        ({"exp": int(time.time()) + 60}, "invalid_request"),
        ({"events": {}}, "invalid_request"),
        ({"sub_id": {"format": "opaque", "id": "x"}}, "invalid_request"),
    ],
)
def test_idp_sets_that_do_not_check_out(overrides: dict[str, Any], err: str) -> None:
    assert _incoming(**overrides) == err


def test_a_forged_signature_is_invalid_key() -> None:
    now = int(time.time())
    claims = {"iss": IDP, "jti": "j", "iat": now, "aud": "urn:charter", "events": {}}
    token = sign(claims, generate_private_key(Alg.ES256), kid="k", typ="secevent+jwt")
    keys = [VerificationKey.of(KEY.public_key(), "k")]
    with pytest.raises(ssf_inbound.SetRefused) as refused:
        ssf_inbound.check(parse_compact(token), keys, "urn:charter", now)
    assert refused.value.err == "invalid_key"
    with pytest.raises(ssf_inbound.SetRefused):
        ssf_inbound.unverified(sign(claims, KEY, kid="k", typ="JWT"))


def _decision(allowed: bool | None) -> dict[str, Any]:
    row = siem_ocsf.DecisionRow(
        7, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "bot", None, "a.read", "r:1", allowed, [], "sdk"
    )
    facts = siem_ocsf.AgentFacts("bot", 3, "ab" * 32)
    return siem_ocsf.decision_event(row, facts)


def test_decision_events_pass_the_ocsf_rules_and_tampering_is_caught() -> None:
    for allowed in (True, False, None):
        assert siem_ocsf.problems(_decision(allowed)) == []
    event = _decision(True)
    assert event["ai_agent"]["version"] == "3" and event["time"] == 1767225600000
    broken = [
        {"type_uid": 300302},
        {"category_uid": 2},
        {"activity_id": 7},
        {"severity_id": 9},
        {"status_id": 5},
        {"time": "yesterday"},
        {"metadata": {}},
        {"class_uid": 2004},
        {"class_name": "Authentication"},
    ]
    for change in broken:
        assert siem_ocsf.problems({**event, **change}), change
