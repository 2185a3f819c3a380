"""Delegation by token exchange (RFC 8693) on SQLite and PostgreSQL: a person's IdP token
in, a token for the agent acting for them out — never more than charter ∩ person."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit.tokens.estate import IDP, Estate

from charter.domain.enums import PersonStatus
from charter.domain.lifecycle import Transition
from charter.domain.tokens.errors import OAuthErrorCode
from charter.domain.tokens.jwk import Alg, generate_private_key, jwk_from_public_key
from charter.domain.tokens.jws import sign
from charter.domain.tokens.token_exchange import TokenType
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import PersonRecord

AGENT = "support-summarizer"
MARIA = "maria.garcia@acme.example"


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Iterator[Estate]:
    built = Estate(services, clock)
    yield built
    services.tokens.close()
    services.decisions.close()


def test_a_person_delegates_and_the_token_says_so(estate: Estate) -> None:
    key = estate.enrol(AGENT)
    issued = estate.tokens.issue(
        estate.exchange_request(
            AGENT, key, estate.person_token(MARIA), scope="tickets.read slack.post_message"
        )
    )
    claims = issued.claims
    assert claims["sub"] == MARIA and claims["client_id"] == AGENT
    assert claims["act"] == {"sub": AGENT, "charter_version": 1}
    # slack.post_message is in the charter but not in Maria's roles: narrowed away
    assert issued.scope == "tickets.read"
    assert issued.issued_token_type == TokenType.ACCESS_TOKEN
    verified = estate.tokens.verify_access_token(issued.access_token)
    assert (verified.agent, verified.on_behalf_of, verified.delegation_chain) == (
        AGENT,
        MARIA,
        (AGENT,),
    )
    event = estate.services.audit.list(action="token.exchange")[0]
    assert event.after["on_behalf_of"] == MARIA and event.after["chain"] == [AGENT]


def _refused(
    estate: Estate, agent: str, subject: str, **params: Any
) -> tuple[OAuthErrorCode, int, str]:
    key = estate.enrol(agent, Alg.EDDSA)
    dpop = (
        {"dpop": estate.dpop(generate_private_key(Alg.ES256))}
        if agent == "finance-reconciler"
        else {}
    )
    refused = estate.refused(estate.exchange_request(agent, key, subject, **params, **dpop))
    return refused.error, refused.status, refused.reason


def test_policy_refusals_are_invalid_grant(estate: Estate) -> None:
    grant = OAuthErrorCode.INVALID_GRANT
    # the charter does not allow delegation at all
    assert _refused(estate, "code-reviewer", estate.person_token("jonas.berg@acme.example")) == (
        grant,
        400,
        "delegation_not_allowed",
    )
    # the delegator has departed
    assert _refused(estate, AGENT, estate.person_token("tom.keller@acme.example")) == (
        grant,
        400,
        "delegator_departed",
    )
    # the person is not in a group the charter accepts delegation from
    assert _refused(estate, "ticket-triager", estate.person_token("priya.nair@acme.example")) == (
        grant,
        400,
        "delegation_not_allowed",
    )
    # a person unknown to the directory
    assert _refused(estate, "finance-reconciler", estate.person_token("eve@elsewhere.example")) == (
        grant,
        400,
        "unknown_delegator",
    )
    # may_act in the person's token names another agent: only that one may act
    token = estate.person_token(MARIA, may_act={"sub": "ticket-triager"})
    triager = estate.enrol("ticket-triager")
    assert (
        estate.tokens.issue(estate.exchange_request("ticket-triager", triager, token)).claims["sub"]
        == MARIA
    )
    refused = estate.refused(estate.exchange_request(AGENT, estate.enrol(AGENT), token))
    assert (refused.error, refused.reason) == (grant, "may_act_mismatch")


def test_scopes_are_the_intersection_or_invalid_scope(estate: Estate) -> None:
    # beyond the charter: escalation
    assert _refused(estate, AGENT, estate.person_token(MARIA), scope="tickets.delete") == (
        OAuthErrorCode.INVALID_SCOPE,
        400,
        "scope_escalation",
    )
    # in the charter, not in the person's access: nothing left
    assert _refused(estate, AGENT, estate.person_token(MARIA), scope="slack.post_message") == (
        OAuthErrorCode.INVALID_SCOPE,
        400,
        "delegator_lacks_access",
    )


def test_bad_subject_tokens_are_invalid_request(estate: Estate) -> None:
    stranger = generate_private_key(Alg.ES256)
    request = OAuthErrorCode.INVALID_REQUEST
    cases = [
        (estate.person_token(MARIA, key=stranger), "bad_signature"),
        (estate.person_token(MARIA, iss="https://idp.evil.example"), "untrusted_issuer"),
        (estate.person_token(MARIA, aud="https://someone-else.example"), "wrong_audience"),
        (estate.person_token(MARIA, exp=estate.now - 600), "subject_expired"),
        (estate.person_token(MARIA, email=None), "no_person"),
        ("garbage", "malformed"),
    ]
    for token, reason in cases:
        assert _refused(estate, AGENT, token) == (request, 400, reason), reason
    assert _refused(
        estate,
        AGENT,
        estate.person_token(MARIA),
        requested_token_type="urn:ietf:params:oauth:token-type:refresh_token",
    ) == (request, 400, "unsupported_requested_token_type")
    assert _refused(estate, AGENT, estate.person_token(MARIA), subject_token_type="urn:x") == (
        request,
        400,
        "no_subject_token",
    )
    other = generate_private_key(Alg.EDDSA)
    estate.tokens.enrol("code-reviewer", other.public_key(), actor="test")
    mine = estate.enrol(AGENT)
    refused = estate.refused(
        estate.exchange_request(
            AGENT,
            mine,
            estate.person_token(MARIA),
            actor_token=estate.assertion("code-reviewer", other),
        )
    )
    assert (refused.error, refused.reason) == (OAuthErrorCode.INVALID_CLIENT, "issuer_mismatch")


def test_chains_nest_act_only_narrow_and_die_with_any_link(estate: Estate) -> None:
    support, triager = estate.enrol(AGENT), estate.enrol("ticket-triager")
    first = estate.tokens.issue(
        estate.exchange_request(
            AGENT, support, estate.person_token(MARIA), scope="tickets.read tickets.comments.read"
        )
    )
    second = estate.tokens.issue(
        estate.exchange_request("ticket-triager", triager, first.access_token, scope="tickets.read")
    )
    assert second.claims["sub"] == MARIA
    assert second.claims["act"] == {
        "sub": "ticket-triager",
        "charter_version": 1,
        "act": {"sub": AGENT, "charter_version": 1},
    }
    assert second.claims["exp"] <= first.claims["exp"]
    verified = estate.tokens.verify_access_token(second.access_token)
    assert verified.delegation_chain == ("ticket-triager", AGENT)
    # support-summarizer's charter accepts chains of one: it cannot extend the triager's token
    assert estate.refused(estate.exchange_request(AGENT, support, second.access_token)).reason in (
        "chain_too_long",
        "chain_loop",
    )
    # an agent's own token is not a person's authority
    own = estate.issue(AGENT, support).access_token
    refused = estate.refused(estate.exchange_request("ticket-triager", triager, own))
    assert (refused.error, refused.reason) == (OAuthErrorCode.INVALID_GRANT, "not_delegated")
    # suspending the first agent ends the whole chain
    estate.clock.advance(seconds=0.5)
    estate.transition(AGENT, Transition.SUSPEND)
    assert estate.tokens.inspect(second.access_token)[1] == "agent_not_active"
    refused = estate.refused(estate.exchange_request("ticket-triager", triager, first.access_token))
    assert (refused.error, refused.reason) == (
        OAuthErrorCode.INVALID_REQUEST,
        "subject_agent_not_active",
    )


def test_a_delegators_departure_ends_their_delegated_tokens(estate: Estate) -> None:
    key = estate.enrol(AGENT)
    token = estate.tokens.issue(
        estate.exchange_request(AGENT, key, estate.person_token(MARIA))
    ).access_token
    assert estate.tokens.introspect(token)["sub"] == MARIA
    maria = estate.services.people.get(MARIA)
    estate.services.people.import_records(
        [
            PersonRecord(
                email=MARIA,
                name=maria.name,
                status=PersonStatus.DEPARTED,
                groups=list(maria.groups),
            )
        ],
        actor="hr",
    )
    assert estate.tokens.inspect(token)[1] == "delegator_departed"


def test_jwks_from_a_url_are_cached_and_refreshed_for_new_kids(estate: Estate) -> None:
    fetched: list[str] = []
    idp_key = generate_private_key(Alg.RS256)
    documents = {"keys": [jwk_from_public_key(idp_key.public_key())]}

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return documents

    estate.tokens.trusted.fetch = fetch
    estate.tokens.trusted.add(
        "https://login.acme.example", actor="test", jwks_url="https://login.acme.example/jwks"
    )
    key = estate.enrol(AGENT)
    kid = jwk_from_public_key(idp_key.public_key())["kid"]
    for _ in range(3):
        claims = {
            "iss": "https://login.acme.example",
            "sub": "u1",
            "email": MARIA,
            "aud": estate.tokens.issuer,
            "exp": estate.now + 600,
        }
        issued = estate.tokens.issue(
            estate.exchange_request(AGENT, key, sign(claims, idp_key, kid=kid))
        )
        assert issued.claims["sub"] == MARIA
    assert fetched == ["https://login.acme.example/jwks"]
    assert IDP in {t.issuer for t in estate.tokens.trusted.all()}
