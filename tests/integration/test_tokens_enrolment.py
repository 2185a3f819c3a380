"""Enrolment on SQLite and PostgreSQL: only active agents, one-time codes, rotation with
overlap, revocation — each audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.unit.tokens.estate import EXAMPLES, Estate

from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.domain.tokens.jwk import Alg, generate_private_key, jwk_from_public_key
from charter.errors import Conflict, NotFound
from charter.services.clock import FixedClock
from charter.services.context import Services

AGENT = "support-summarizer"


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Iterator[Estate]:
    built = Estate(services, clock)
    yield built
    services.tokens.close()
    services.decisions.close()


def test_only_active_agents_enrol(estate: Estate) -> None:
    spec = parse_charter_text((EXAMPLES / "agents" / "release-notes-writer.yaml").read_text())
    estate.services.registry.register(spec, actor="test")  # proposed, never activated
    key = generate_private_key(Alg.EDDSA).public_key()
    with pytest.raises(Conflict) as refused:
        estate.tokens.enrol("release-notes-writer", key, actor="test")
    assert refused.value.field == "state" and "only active agents enrol" in refused.value.message
    with pytest.raises(Conflict):
        estate.tokens.issue_enrolment_code("release-notes-writer", actor="test")
    with pytest.raises(NotFound):
        estate.tokens.enrol("nobody", key, actor="test")
    estate.tokens.enrol(AGENT, key, actor="test")
    with pytest.raises(Conflict):  # the same key twice
        estate.tokens.enrol(AGENT, key, actor="test")


def test_an_enrolment_code_is_single_use_short_lived_and_never_stored(estate: Estate) -> None:
    code = estate.tokens.issue_enrolment_code(AGENT, actor="ops", ttl=600)
    assert code.code.startswith("chenr_")
    private = generate_private_key(Alg.ES256)
    jwks = {"keys": [jwk_from_public_key(private.public_key())]}
    enrolled = estate.tokens.register_with_code(code.code, jwks, actor="agent")
    assert enrolled.key.agent == AGENT and enrolled.key.alg == "ES256"
    assert estate.issue(AGENT, private).claims["client_id"] == AGENT
    with pytest.raises(OAuthError) as again:
        estate.tokens.register_with_code(
            code.code,
            {"keys": [jwk_from_public_key(generate_private_key(Alg.EDDSA).public_key())]},
            actor="agent",
        )
    assert (again.value.error, again.value.status) == (OAuthErrorCode.INVALID_TOKEN, 401)
    late = estate.tokens.issue_enrolment_code(AGENT, actor="ops", ttl=60)
    estate.clock.advance(seconds=61)
    with pytest.raises(OAuthError):
        estate.tokens.register_with_code(late.code, jwks, actor="agent")
    private_jwk = {**jwk_from_public_key(private.public_key()), "d": "c2VjcmV0"}
    fresh = estate.tokens.issue_enrolment_code(AGENT, actor="ops")
    with pytest.raises(OAuthError) as bad_key:
        estate.tokens.register_with_code(fresh.code, {"keys": [private_jwk]}, actor="agent")
    assert bad_key.value.error == OAuthErrorCode.INVALID_CLIENT_METADATA
    events = estate.services.audit.list(target=AGENT, action="agent.enrolment_code")
    assert len(events) == 3 and all(code.code not in e.summary for e in events)


def test_a_code_for_an_agent_suspended_since_is_refused(estate: Estate) -> None:
    code = estate.tokens.issue_enrolment_code(AGENT, actor="ops")
    estate.transition(AGENT, Transition.SUSPEND)
    jwks = {"keys": [jwk_from_public_key(generate_private_key(Alg.EDDSA).public_key())]}
    with pytest.raises(OAuthError) as refused:
        estate.tokens.register_with_code(code.code, jwks, actor="agent")
    assert refused.value.reason == "agent_not_active"


def test_rotation_keeps_the_old_key_for_the_overlap_only(estate: Estate) -> None:
    old = estate.enrol(AGENT)
    new = generate_private_key(Alg.ES256)
    done = estate.tokens.enrol(AGENT, new.public_key(), actor="test", overlap=600)
    assert done.retiring and done.retire_at is not None
    assert estate.issue(AGENT, old).claims["client_id"] == AGENT  # within the overlap
    estate.clock.advance(seconds=601)
    refused = estate.refused(estate.request(AGENT, old))
    assert (refused.error, refused.reason) == (OAuthErrorCode.INVALID_CLIENT, "unknown_key")
    assert estate.issue(AGENT, new).claims["client_id"] == AGENT
    statuses = {k.kid: k.status(estate.clock.now()) for k in estate.tokens.agent_keys(AGENT)}
    assert sorted(statuses.values()) == ["active", "expired"]


def test_revoking_a_key_refuses_it_and_ends_the_agents_tokens(estate: Estate) -> None:
    first, second = estate.enrol(AGENT), generate_private_key(Alg.EDDSA)
    estate.tokens.enrol(AGENT, second.public_key(), actor="test", overlap=3600)
    token = estate.issue(AGENT, first).access_token
    kid = jwk_from_public_key(first.public_key())["kid"]
    estate.clock.advance(seconds=0.2)
    estate.tokens.revoke_agent_key(AGENT, kid, actor="ops", reason="laptop stolen")
    assert estate.refused(estate.request(AGENT, first)).reason == "unknown_key"
    assert estate.tokens.inspect(token)[1] == "revoked"
    assert estate.tokens.introspect(estate.issue(AGENT, second).access_token)["active"] is True
    revoked = estate.services.audit.list(target=AGENT, action="agent.key_revoke")[0]
    assert revoked.after == {"kid": kid, "reason": "laptop stolen", "tokens_revoked": True}
    with pytest.raises(Conflict):
        estate.tokens.revoke_agent_key(AGENT, kid, actor="ops", reason="again")
