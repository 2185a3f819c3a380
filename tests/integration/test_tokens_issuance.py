"""The token endpoint in-process, on SQLite and PostgreSQL: issuance, every refusal path
(RFC 6749 §5.2 codes and HTTP statuses), audit events, and tokens dying with their agent."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet
from tests.unit.tokens.estate import EXAMPLES, Estate

from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.domain.tokens.errors import InvalidToken, OAuthError, OAuthErrorCode
from charter.domain.tokens.jwk import Alg, generate_private_key
from charter.domain.tokens.requests import TokenRequest
from charter.services.clock import FixedClock
from charter.services.context import Services

AGENT = "support-summarizer"


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Iterator[Estate]:
    built = Estate(services, clock)
    yield built
    services.tokens.close()
    services.decisions.close()


def _refusals(estate: Estate) -> list[dict[str, Any]]:
    return [e.after for e in estate.services.audit.list(action="token.refuse", limit=100)]


def test_client_credentials_issue_an_rfc9068_token_that_joserfc_verifies(estate: Estate) -> None:
    key = estate.enrol(AGENT)
    issued = estate.issue(
        AGENT,
        key,
        scope="tickets.read slack.post_message",
        resource=("https://api.acme.example/tickets",),
    )
    assert issued.token_type == "Bearer" and issued.scope == "tickets.read slack.post_message"
    assert issued.expires_in <= 900  # the charter's max_token_lifetime: 15m
    keys = KeySet.import_key_set(estate.tokens.jwks())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        decoded = jose_jwt.decode(issued.access_token, keys, algorithms=["ES256", "EdDSA"])
    assert decoded.header["typ"] == "at+jwt" and decoded.header["kid"]
    claims = decoded.claims
    jose_jwt.JWTClaimsRegistry(
        now=estate.now,
        iss={"essential": True, "value": estate.tokens.issuer},
        aud={"essential": True, "value": "https://api.acme.example/tickets"},
    ).validate(claims)
    assert {
        "iss",
        "sub",
        "aud",
        "client_id",
        "iat",
        "exp",
        "jti",
        "scope",
        "charter_version",
    } <= set(claims)
    assert claims["sub"] == claims["client_id"] == AGENT
    assert claims["charter_version"] == 1
    assert claims["exp"] - estate.now <= 900
    verified = estate.tokens.verify_access_token(issued.access_token)
    assert verified.scopes == {"tickets.read", "slack.post_message"}
    issue_events = estate.services.audit.list(action="token.issue")
    assert issue_events[0].target == AGENT and issue_events[0].after["jti"] == claims["jti"]
    assert issue_events[0].actor == AGENT


def test_the_default_scope_and_audience_and_the_lifetime_cap(estate: Estate) -> None:
    key = estate.enrol("code-reviewer")
    issued = estate.issue("code-reviewer", key)
    assert set(issued.scope.split()) == {
        "github.pulls.read",
        "github.contents.read",
        "github.pulls.comment",
    }
    assert issued.claims["aud"] == estate.tokens.issuer
    assert issued.expires_in == 1800  # code-reviewer's charter: 30m


REFUSALS = [
    ("expired assertion", OAuthErrorCode.INVALID_CLIENT, 401, "assertion_expired"),
    ("wrong audience", OAuthErrorCode.INVALID_CLIENT, 401, "wrong_audience"),
    ("unknown key", OAuthErrorCode.INVALID_CLIENT, 401, "unknown_key"),
    ("unknown client", OAuthErrorCode.INVALID_CLIENT, 401, "unknown_client"),
    ("no client authentication", OAuthErrorCode.INVALID_CLIENT, 401, "unsupported_client_auth"),
    ("scope escalation", OAuthErrorCode.INVALID_SCOPE, 400, "scope_escalation"),
    ("unsupported grant", OAuthErrorCode.UNSUPPORTED_GRANT_TYPE, 400, "unsupported_grant_type"),
    ("repeated parameter", OAuthErrorCode.INVALID_REQUEST, 400, "repeated_parameter"),
    ("bad resource", OAuthErrorCode.INVALID_TARGET, 400, "bad_resource"),
]


def test_each_refusal_has_its_code_status_and_audit_event(estate: Estate) -> None:
    key = estate.enrol(AGENT)
    stranger = generate_private_key(Alg.EDDSA)
    requests = {
        "expired assertion": lambda: estate.request(
            AGENT,
            key,
            assertion=estate.assertion(AGENT, key, exp=estate.now - 300, iat=estate.now - 360),
        ),
        "wrong audience": lambda: estate.request(
            AGENT, key, assertion=estate.assertion(AGENT, key, aud="https://other-as.example")
        ),
        "unknown key": lambda: estate.request(AGENT, stranger),
        "unknown client": lambda: estate.request("release-notes-writer", key),
        "no client authentication": lambda: estate.request(
            AGENT, key, client_assertion_type="client_secret_post"
        ),
        "scope escalation": lambda: estate.request(AGENT, key, scope="tickets.read tickets.delete"),
        "unsupported grant": lambda: estate.request(AGENT, key, grant_type="password"),
        "repeated parameter": lambda: TokenRequest(
            {**estate.request(AGENT, key).params, "scope": ["tickets.read", "slack.post_message"]}
        ),
        "bad resource": lambda: estate.request(AGENT, key, resource=("not a uri",)),
    }
    for case, error, status, reason in REFUSALS:
        refused = estate.refused(requests[case]())
        assert (refused.error, refused.status, refused.reason) == (error, status, reason), case
        assert refused.body()["error"] == error.value
        assert _refusals(estate)[0]["reason"] == reason, case
    assert estate.services.audit.list(action="token.issue") == []


def test_a_replayed_assertion_is_refused_and_audited(estate: Estate) -> None:
    key = estate.enrol(AGENT)
    assertion = estate.assertion(AGENT, key)
    estate.tokens.issue(estate.request(AGENT, key, assertion=assertion))
    refused = estate.refused(estate.request(AGENT, key, assertion=assertion))
    assert (refused.error, refused.status, refused.reason) == (
        OAuthErrorCode.INVALID_CLIENT,
        401,
        "jti_replayed",
    )
    assert _refusals(estate)[0]["reason"] == "jti_replayed"


def test_racing_replays_of_one_assertion_yield_exactly_one_token(estate: Estate) -> None:
    key = estate.enrol(AGENT)
    assertion = estate.assertion(AGENT, key)
    results: list[str] = []

    def attempt() -> None:
        try:
            estate.tokens.issue(estate.request(AGENT, key, assertion=assertion))
            results.append("issued")
        except OAuthError as exc:
            results.append(exc.reason)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["issued"] + ["jti_replayed"] * 7


@pytest.mark.parametrize("transition", [Transition.SUSPEND, Transition.DECOMMISSION])
def test_an_inactive_agent_gets_no_token_and_loses_the_ones_it_has(
    estate: Estate, transition: Transition
) -> None:
    key = estate.enrol(AGENT)
    token = estate.issue(AGENT, key).access_token
    assert estate.tokens.introspect(token)["active"] is True
    estate.clock.advance(seconds=0.5)
    estate.transition(AGENT, transition)
    assert estate.tokens.introspect(token) == {"active": False}
    with pytest.raises(InvalidToken) as inactive:
        estate.tokens.verify_access_token(token, fresh=True)
    assert inactive.value.reason == "agent_not_active"
    refused = estate.refused(estate.request(AGENT, key))
    assert (refused.error, refused.status, refused.reason) == (
        OAuthErrorCode.UNAUTHORIZED_CLIENT,
        400,
        "agent_not_active",
    )
    if transition == Transition.SUSPEND:  # resuming does not revive tokens from before
        estate.clock.advance(seconds=2)
        estate.transition(AGENT, Transition.RESUME)
        assert estate.tokens.introspect(token) == {"active": False}
        fresh = estate.issue(AGENT, key).access_token
        assert estate.tokens.introspect(fresh)["active"] is True


def test_re_chartering_makes_outstanding_tokens_inactive(estate: Estate) -> None:
    key = estate.enrol(AGENT)
    token = estate.issue(AGENT, key).access_token
    text = (
        (EXAMPLES / "agents" / f"{AGENT}.yaml")
        .read_text()
        .replace("expires: 2027-09-30", "expires: 2027-06-30")
    )
    estate.services.registry.update(parse_charter_text(text), actor="test")
    _, reason = estate.tokens.inspect(token)
    assert reason == "charter_changed"
    assert estate.issue(AGENT, key).claims["charter_version"] == 2


def test_rfc7009_revocation_of_one_token_and_of_every_token(estate: Estate) -> None:
    key = estate.enrol(AGENT)
    first, second = estate.issue(AGENT, key).access_token, estate.issue(AGENT, key).access_token
    assert estate.tokens.revoke(first, client_id=AGENT, actor=AGENT) is True
    assert estate.tokens.revoke(first, client_id=AGENT, actor=AGENT) is False  # already: fine
    assert estate.tokens.revoke("not-a-token", client_id=AGENT, actor=AGENT) is False
    with pytest.raises(OAuthError) as refused:
        estate.tokens.revoke(second, client_id="code-reviewer", actor="code-reviewer")
    assert refused.value.error == OAuthErrorCode.UNAUTHORIZED_CLIENT
    assert estate.tokens.inspect(first)[1] == "revoked"
    assert estate.tokens.introspect(second)["active"] is True
    estate.clock.advance(seconds=1)
    estate.tokens.revoke_agent_tokens(AGENT, actor="test", reason="incident")
    assert estate.tokens.inspect(second)[1] == "revoked"
    assert estate.tokens.introspect(estate.issue(AGENT, key).access_token)["active"] is True
    actions = [e.action for e in estate.services.audit.list(target=AGENT, limit=20)]
    assert actions.count("token.revoke") == 1 and "token.revoke_all" in actions


def test_signing_key_rotation_keeps_tokens_valid_through_the_overlap(estate: Estate) -> None:
    key = estate.enrol(AGENT)
    old = estate.issue(AGENT, key)
    rotated = estate.tokens.rotate_signing_key(actor="test", alg=Alg.EDDSA, overlap=3600)
    new = estate.issue(AGENT, key)
    assert new.claims and old.access_token != new.access_token
    kids = {k["kid"] for k in estate.tokens.jwks()["keys"]}
    assert rotated.kid in kids and len(kids) == 2
    assert estate.tokens.introspect(old.access_token)["active"] is True
    estate.clock.advance(seconds=3601)
    assert {k["kid"] for k in estate.tokens.jwks()["keys"]} == {rotated.kid}
    assert estate.tokens.inspect(old.access_token)[1] in ("unknown_key", "expired")
    rotations = estate.services.audit.list(action="signing_key.rotate")
    assert rotations[0].target == rotated.kid


def test_dpop_binds_the_token_and_refuses_replays_and_wrong_urls(estate: Estate) -> None:
    key, pop = estate.enrol(AGENT), generate_private_key(Alg.ES256)
    proof = estate.dpop(pop)
    issued = estate.issue(AGENT, key, dpop=proof)
    assert issued.token_type == "DPoP" and issued.claims["cnf"]["jkt"] and issued.dpop_nonce
    replay = estate.refused(estate.request(AGENT, key, dpop=proof))
    assert (replay.error, replay.status, replay.reason) == (
        OAuthErrorCode.INVALID_DPOP_PROOF,
        400,
        "dpop_replayed",
    )
    wrong = estate.refused(
        estate.request(AGENT, key, dpop=estate.dpop(pop, htu="https://evil.example/oauth/token"))
    )
    assert (wrong.error, wrong.reason) == (OAuthErrorCode.INVALID_DPOP_PROOF, "dpop_wrong_htu")
    # at the resource: the proof must come along, fresh, with ath, from the same key
    token, url = issued.access_token, "https://api.acme.example/tickets"
    good = estate.dpop(pop, htm="GET", htu=url, access_token=token)
    assert estate.tokens.verify_authorization(f"DPoP {token}", good, method="GET", url=url).jkt
    for header, proof_value, reason in [
        (f"DPoP {token}", None, "dpop_required"),
        (f"DPoP {token}", good, "dpop_replayed"),
        (
            f"Bearer {token}",
            estate.dpop(pop, htm="GET", htu=url, access_token=token),
            "dpop_required",
        ),
        (
            f"DPoP {token}",
            estate.dpop(generate_private_key(Alg.ES256), htm="GET", htu=url, access_token=token),
            "dpop_wrong_key",
        ),
        (f"DPoP {token}", estate.dpop(pop, htm="GET", htu=url), "dpop_wrong_ath"),
    ]:
        with pytest.raises(InvalidToken) as refused:
            estate.tokens.verify_authorization(header, proof_value, method="GET", url=url)
        assert refused.value.reason == reason


def test_a_charter_requiring_proof_of_possession_refuses_bearer_requests(estate: Estate) -> None:
    key = estate.enrol("finance-reconciler")
    refused = estate.refused(estate.request("finance-reconciler", key, scope="ledger.entries.read"))
    assert (refused.error, refused.reason) == (OAuthErrorCode.INVALID_REQUEST, "dpop_required")
    issued = estate.issue(
        "finance-reconciler",
        key,
        scope="ledger.entries.read",
        dpop=estate.dpop(generate_private_key(Alg.EDDSA)),
    )
    assert issued.token_type == "DPoP" and issued.expires_in <= 600


def test_dpop_nonces_when_the_server_requires_them(estate: Estate) -> None:
    estate.tokens.require_dpop_nonce = True
    key, pop = estate.enrol(AGENT), generate_private_key(Alg.ES256)
    refused = estate.refused(estate.request(AGENT, key, dpop=estate.dpop(pop)))
    assert (refused.error, refused.status) == (OAuthErrorCode.USE_DPOP_NONCE, 400)
    nonce = refused.headers["DPoP-Nonce"]
    issued = estate.issue(AGENT, key, dpop=estate.dpop(pop, nonce=nonce))
    assert issued.token_type == "DPoP"
