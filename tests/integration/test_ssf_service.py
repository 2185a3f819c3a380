"""Shared Signals in process, on SQLite and PostgreSQL: SETs queued with the change they
report, polled and acknowledged; SETs from the IdP end a person's delegated tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit.tokens.estate import IDP, Estate

from charter.domain import ssf, ssf_inbound
from charter.domain.enums import PersonStatus
from charter.domain.lifecycle import Transition
from charter.domain.ssf_inbound import SetRefused
from charter.domain.tokens.errors import InvalidToken
from charter.domain.tokens.jwk import jwk_from_public_key, public_key_from_jwk
from charter.domain.tokens.jws import VerificationKey, parse_compact, sign
from charter.services.clock import FixedClock
from charter.services.context import Services

AGENT = "support-summarizer"
MARIA = "maria.garcia@acme.example"


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Iterator[Estate]:
    built = Estate(services, clock)
    yield built
    services.tokens.close()
    services.decisions.close()


def _poll_stream(services: Services, **extra: Any) -> tuple[str, str]:
    created = services.ssf.streams.create(
        ssf.parse_stream_request({"aud": "https://siem.acme.example", **extra}), actor="test"
    )
    return created.stream.id, created.token


def _verify(services: Services, token: str) -> dict[str, Any]:
    compact = parse_compact(token)
    assert compact.header["typ"] == "secevent+jwt"
    jwk = next(k for k in services.tokens.jwks()["keys"] if k["kid"] == compact.kid)
    public, _ = public_key_from_jwk(jwk)
    assert VerificationKey.of(public, jwk["kid"]).verify(compact)
    return compact.claims


def test_a_suspension_is_a_signed_session_revoked_set_polled_then_acked(estate: Estate) -> None:
    services = estate.services
    stream_id, token = _poll_stream(services)
    assert services.ssf.streams.by_token(token).id == stream_id  # type: ignore[union-attr]
    estate.transition(AGENT, Transition.SUSPEND)
    stream = services.ssf.streams.get(stream_id)
    answer = services.ssf.outbox.poll(stream, ssf.parse_poll({"maxEvents": 10}))
    assert len(answer["sets"]) == 1 and answer["moreAvailable"] is False
    jti, set_token = next(iter(answer["sets"].items()))
    claims = _verify(services, set_token)
    assert claims["jti"] == jti and claims["aud"] == "https://siem.acme.example"
    assert claims["iss"] == services.tokens.issuer
    assert claims["sub_id"] == {"format": "iss_sub", "iss": claims["iss"], "sub": AGENT}
    event = claims["events"][ssf.SESSION_REVOKED]
    assert event["initiating_entity"] == "admin" and event["reason_admin"] == {"en": "test"}
    # not acknowledged: offered again; acknowledged: gone
    again = services.ssf.outbox.poll(stream, ssf.parse_poll({}))
    assert list(again["sets"]) == [jti]
    done = services.ssf.outbox.poll(stream, ssf.parse_poll({"ack": [jti]}))
    assert done == {"sets": {}, "moreAvailable": False}
    assert services.ssf.outbox.counts()[stream_id] == {"acked": 1}
    # acknowledged SETs are kept a week, then pruned
    assert services.ssf.outbox.prune() == 0
    estate.clock.advance(seconds=8 * 86400)
    assert services.ssf.outbox.prune() == 1 and services.ssf.outbox.counts() == {}


def test_a_removed_subject_and_unrequested_events_are_not_queued(estate: Estate) -> None:
    services = estate.services
    stream_id, _ = _poll_stream(services, events_requested=[ssf.CREDENTIAL_CHANGE])
    other_id, _ = _poll_stream(services)
    services.ssf.streams.set_subject(
        other_id, {"format": "iss_sub", "iss": IDP, "sub": AGENT}, included=False, actor="test"
    )
    estate.transition(AGENT, Transition.SUSPEND)
    assert services.ssf.outbox.counts() == {}
    # a failed change queues nothing: the SET is written in the change's transaction
    with pytest.raises(Exception):  # noqa: B017 - a suspended agent cannot be suspended again
        estate.transition(AGENT, Transition.SUSPEND)
    assert services.ssf.outbox.counts() == {}
    assert stream_id


def test_a_paused_stream_keeps_sets_and_a_disabled_one_drops_them(estate: Estate) -> None:
    services = estate.services
    stream_id, _ = _poll_stream(services)
    services.ssf.streams.set_status(stream_id, "paused", "maintenance", actor="test")
    services.tokens.revoke_agent_tokens(AGENT, actor="test", reason="key leaked")
    stream = services.ssf.streams.get(stream_id)
    assert services.ssf.outbox.poll(stream, ssf.parse_poll({}))["sets"] == {}
    assert services.ssf.outbox.counts()[stream_id] == {"pending": 1}
    services.ssf.streams.set_status(stream_id, "disabled", None, actor="test")
    assert services.ssf.outbox.counts() == {}


def _idp_set(estate: Estate, event: str, person: str, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": IDP,
        "jti": uuid.uuid4().hex,
        "iat": estate.now,
        "aud": estate.tokens.issuer,
        "sub_id": {"format": "email", "email": person},
        "events": {event: {"event_timestamp": estate.now}},
    }
    claims.update(overrides)
    kid = jwk_from_public_key(estate.idp_key.public_key())["kid"]
    return sign(claims, estate.idp_key, kid=kid, typ="secevent+jwt")


def test_session_revoked_from_the_idp_revokes_the_tokens_acting_for_the_person(
    estate: Estate,
) -> None:
    key = estate.enrol(AGENT)
    issued = estate.tokens.issue(estate.exchange_request(AGENT, key, estate.person_token(MARIA)))
    estate.tokens.close()  # the issuance ledger has written the token.exchange event
    estate.tokens.verify_access_token(issued.access_token)
    outcome = estate.services.ssf.receiver.receive(_idp_set(estate, ssf.SESSION_REVOKED, MARIA))
    assert outcome.revoked == 1 and outcome.departed == () and not outcome.replay
    with pytest.raises(InvalidToken):
        estate.tokens.verify_access_token(issued.access_token)
    assert estate.services.people.get(MARIA).status == PersonStatus.ACTIVE


def test_account_disabled_departs_the_person_once_and_a_replay_changes_nothing(
    estate: Estate,
) -> None:
    token = _idp_set(estate, ssf.ACCOUNT_DISABLED, MARIA)
    outcome = estate.services.ssf.receiver.receive(token)
    assert outcome.departed == (MARIA,)
    assert estate.services.people.get(MARIA).status == PersonStatus.DEPARTED
    assert estate.services.ssf.receiver.receive(token).replay is True
    assert len(estate.services.audit.list(action="ssf.receive")) == 1


def test_a_set_stamped_ahead_stays_a_replay_for_as_long_as_it_is_acceptable(
    estate: Estate,
) -> None:
    """A SET may carry an ``iat`` up to the leeway in the future; its jti must be kept
    until that SET is too old to accept, else a week later it is acted on again."""
    ahead = estate.now + ssf_inbound.LEEWAY - 1
    token = _idp_set(estate, ssf.ACCOUNT_DISABLED, MARIA, iat=ahead)
    assert estate.services.ssf.receiver.receive(token).departed == (MARIA,)
    estate.clock.advance(seconds=ssf_inbound.MAX_AGE + 10)  # still within iat's MAX_AGE
    assert estate.services.ssf.receiver.receive(token).replay is True


@pytest.mark.parametrize(
    ("overrides", "err"),
    [
        ({"aud": "https://someone-else.example"}, "invalid_audience"),
        ({"iss": "https://idp.evil.example"}, "invalid_issuer"),
        ({"exp": 2**40}, "invalid_request"),
        ({"sub_id": {"format": "opaque", "id": "x"}}, "invalid_request"),
    ],
)
def test_sets_that_do_not_check_out_are_refused_and_change_nothing(
    estate: Estate, overrides: dict[str, Any], err: str
) -> None:
    token = _idp_set(estate, ssf.ACCOUNT_DISABLED, MARIA, **overrides)
    with pytest.raises(SetRefused) as refused:
        estate.services.ssf.receiver.receive(token)
    assert refused.value.err == err
    assert estate.services.people.get(MARIA).status == PersonStatus.ACTIVE
    assert estate.services.audit.list(action="ssf.receive") == []
