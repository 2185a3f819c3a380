"""RFC 9068 access tokens: issued with PyJWT, checked by joserfc and by our verifier.

Every claim and the signature are tampered with in turn; each must be refused.
Then the store-backed checks: revocation, suspension, re-chartering, token
floors, departed delegators, and a cache that must not outlive any of them.
"""

from __future__ import annotations

import base64
import json
import warnings
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError as JoserfcError
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet
from tests.unit.tokens.keysets import (
    ISSUER,
    NOW,
    base_claims,
    other_key,
    ring,
    signing_key,
    snapshot,
)

from charter.domain.enums import AgentState, PersonStatus
from charter.domain.tokens.claims import Actor, access_token_claims, parse_act
from charter.domain.tokens.errors import InvalidToken
from charter.domain.tokens.jwk import Alg
from charter.domain.tokens.jws import sign
from charter.services.tokens.access_tokens import AccessTokenVerifier
from charter.services.tokens.keys import KeyRing, SigningKey
from charter.services.tokens.state import ValiditySnapshot


def _issue(key: SigningKey, claims: dict[str, Any], typ: str = "at+jwt") -> str:
    assert key.private is not None
    return sign(claims, key.private, kid=key.kid, typ=typ)


def _verifier(
    keyring: KeyRing, state: ValiditySnapshot, now: float = NOW + 10
) -> AccessTokenVerifier:
    return AccessTokenVerifier(ISSUER, lambda _s: keyring, lambda _fresh: state, lambda: now)


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _payload(token: str) -> dict[str, Any]:
    segment = _segments(token)[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def _joserfc_claims(token: str, key: SigningKey, now: int = NOW + 10) -> dict[str, Any]:
    keys = KeySet.import_key_set({"keys": [key.public_jwk]})
    with warnings.catch_warnings():  # joserfc flags "EdDSA" as superseded by RFC 9864's "Ed25519"
        warnings.simplefilter("ignore", SecurityWarning)
        decoded = jose_jwt.decode(token, keys, algorithms=[key.alg.value])
    registry = jose_jwt.JWTClaimsRegistry(
        now=now,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": ISSUER},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
        client_id={"essential": True},
    )
    registry.validate(decoded.claims)
    assert decoded.header["typ"] == "at+jwt"
    return dict(decoded.claims)


@pytest.mark.parametrize("alg", [Alg.ES256, Alg.EDDSA, Alg.RS256])
def test_issued_tokens_verify_with_an_independent_library(alg: Alg) -> None:
    key = signing_key(alg)
    claims = access_token_claims(
        issuer=ISSUER,
        subject="support-summarizer",
        client_id="support-summarizer",
        audience=(ISSUER,),
        scopes=("tickets.read", "slack.post_message"),
        issued_at=NOW,
        expires_at=NOW + 900,
        jti="abc",
        charter_version=3,
    )
    token = _issue(key, claims)
    seen = _joserfc_claims(token, key)
    assert seen["scope"] == "tickets.read slack.post_message"
    assert seen["charter_version"] == 3
    ours = _verifier(ring(key), snapshot(agents={"support-summarizer": (AgentState.ACTIVE, 3)}))
    verified = ours.verify(token)
    assert verified.agent == "support-summarizer"
    assert verified.scopes == {"tickets.read", "slack.post_message"}
    assert verified.allows("tickets.read") and not verified.allows("tickets.delete")
    assert not verified.delegated and verified.on_behalf_of is None


CLAIM_TAMPERS = [
    ("iss", "https://evil.test"),
    ("sub", "finance-reconciler"),
    ("aud", "https://other.test"),
    ("client_id", "finance-reconciler"),
    ("iat", NOW + 5),
    ("exp", NOW + 99_999),
    ("jti", "jti-2"),
    ("scope", "tickets.read tickets.delete"),
    ("charter_version", 2),
    ("act", {"sub": "support-summarizer", "charter_version": 1}),
    ("cnf", {"jkt": "attacker"}),
]


@pytest.mark.parametrize(("claim", "value"), CLAIM_TAMPERS, ids=[c for c, _ in CLAIM_TAMPERS])
def test_every_tampered_claim_is_refused(claim: str, value: Any) -> None:
    key = signing_key()
    token = _issue(key, base_claims())
    head, _payload_segment, signature = _segments(token)
    claims = _payload(token)
    claims[claim] = value
    forged = f"{head}.{_b64(claims)}.{signature}"
    with pytest.raises(InvalidToken) as refused:
        _verifier(ring(key), snapshot()).verify(forged)
    assert refused.value.reason == "bad_signature"
    with pytest.raises(JoserfcError):
        _joserfc_claims(forged, key)


@pytest.mark.parametrize("position", [0, 10, 40, -2, -1])
def test_a_tampered_signature_is_refused(position: int) -> None:
    key = signing_key()
    token = _issue(key, base_claims())
    head, payload, signature = _segments(token)
    chars = list(signature)
    chars[position] = "A" if chars[position] != "A" else "B"
    forged = f"{head}.{payload}.{''.join(chars)}"
    with pytest.raises(InvalidToken) as refused:
        _verifier(ring(key), snapshot()).verify(forged)
    assert refused.value.reason == "bad_signature"


def test_header_tampering_is_refused() -> None:
    key = signing_key()
    token = _issue(key, base_claims())
    _head, payload, signature = _segments(token)
    verifier = _verifier(ring(key), snapshot())
    for header, reason in [
        ({"alg": "none", "typ": "at+jwt", "kid": key.kid}, "bad_signature"),
        ({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, "bad_signature"),
        ({"alg": "ES256", "typ": "at+jwt", "kid": "someone-else"}, "unknown_key"),
        ({"alg": "ES256", "typ": "JWT", "kid": key.kid}, "wrong_type"),
        ({"alg": "ES256", "typ": "at+jwt", "kid": key.kid, "crit": ["exp"]}, "malformed"),
    ]:
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(f"{_b64(header)}.{payload}.{signature}")
        assert refused.value.reason == reason, header
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}.")
    assert refused.value.reason == "malformed"


def test_a_token_signed_by_another_key_is_refused_even_with_our_kid() -> None:
    ours, attacker = signing_key(), signing_key()
    forged = sign(base_claims(), attacker.private, kid=ours.kid, typ="at+jwt")  # type: ignore[arg-type]
    with pytest.raises(InvalidToken) as refused:
        _verifier(ring(ours), snapshot()).verify(forged)
    assert refused.value.reason == "bad_signature"
    # an EdDSA key's signature under an ES256 kid is an algorithm confusion: refused
    ed = other_key(Alg.EDDSA)
    confused = sign(base_claims(), ed, kid=ours.kid, typ="at+jwt")
    with pytest.raises(InvalidToken):
        _verifier(ring(ours), snapshot()).verify(confused)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": NOW}, "expired"),
        ({"iss": "https://evil.test"}, "wrong_issuer"),
        ({"iat": NOW + 3600}, "not_yet_valid"),
        ({"aud": None}, "malformed"),
        ({"jti": None}, "malformed"),
        ({"charter_version": "1"}, "malformed"),
        ({"exp": True}, "malformed"),
        ({"act": {"sub": "someone-else", "charter_version": 1}}, "malformed"),
        ({"cnf": {"x5t#S256": "abc"}}, "malformed"),
    ],
)
def test_claims_are_checked_after_the_signature(overrides: dict[str, Any], reason: str) -> None:
    key = signing_key()
    token = _issue(key, base_claims(**overrides))
    with pytest.raises(InvalidToken) as refused:
        _verifier(ring(key), snapshot()).verify(token)
    assert refused.value.reason == reason


def test_audience_is_checked_when_the_resource_server_names_itself() -> None:
    key = signing_key()
    token = _issue(key, base_claims(aud=["https://api.acme.test", "https://mcp.acme.test"]))
    verifier = _verifier(ring(key), snapshot())
    assert (
        verifier.verify(token, audience="https://mcp.acme.test").audience[1]
        == "https://mcp.acme.test"
    )
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token, audience="https://payroll.acme.test")
    assert refused.value.reason == "wrong_audience"


def test_a_retired_signing_key_no_longer_verifies_even_from_the_cache() -> None:
    old, new = signing_key(), signing_key()
    token = _issue(old, base_claims())
    current: list[KeyRing] = [ring(old, new)]
    verifier = AccessTokenVerifier(
        ISSUER, lambda _s: current[0], lambda _f: snapshot(), lambda: NOW + 10
    )
    assert verifier.verify(token).kid == old.kid  # overlap: still verifies, now cached
    current[0] = ring(new)
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    assert refused.value.reason == "unknown_key"


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (snapshot(revoked=frozenset({"jti-1"})), "revoked"),
        (snapshot(agents={"support-summarizer": (AgentState.SUSPENDED, 1)}), "agent_not_active"),
        (
            snapshot(agents={"support-summarizer": (AgentState.DECOMMISSIONED, 1)}),
            "agent_not_active",
        ),
        (snapshot(agents={"support-summarizer": (AgentState.ACTIVE, 2)}), "charter_changed"),
        (snapshot(agents={}), "agent_unknown"),
        (snapshot(floors={"support-summarizer": NOW + 1}), "revoked"),
        (snapshot(changed_at=NOW + 1), "agent_changed"),
    ],
)
def test_the_store_must_still_back_the_token_and_the_cache_does_not_hide_it(
    state: ValiditySnapshot, reason: str
) -> None:
    key = signing_key()
    token = _issue(key, base_claims())
    current = [snapshot()]
    verifier = AccessTokenVerifier(
        ISSUER, lambda _s: ring(key), lambda _f: current[0], lambda: NOW + 10
    )
    assert verifier.verify(token).jti == "jti-1"  # verified once: in the cache now
    current[0] = state
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    assert refused.value.reason == reason


def test_delegated_tokens_name_the_person_and_every_agent_of_the_chain() -> None:
    key = signing_key()
    act = {
        "sub": "support-summarizer",
        "charter_version": 1,
        "act": {"sub": "code-reviewer", "charter_version": 4},
    }
    token = _issue(key, base_claims(sub="maria.garcia@acme.example", act=act))
    agents = {"support-summarizer": (AgentState.ACTIVE, 1), "code-reviewer": (AgentState.ACTIVE, 4)}
    people = {"maria.garcia@acme.example": PersonStatus.ACTIVE}
    verified = _verifier(ring(key), snapshot(agents=agents, people=people)).verify(token)
    assert verified.on_behalf_of == "maria.garcia@acme.example"
    assert verified.delegation_chain == ("support-summarizer", "code-reviewer")
    assert verified.introspection()["act"] == act
    # the earlier agent of the chain is suspended: the whole token is inactive
    agents["code-reviewer"] = (AgentState.SUSPENDED, 4)
    with pytest.raises(InvalidToken) as refused:
        _verifier(ring(key), snapshot(agents=agents, people=people)).verify(token)
    assert refused.value.reason == "agent_not_active"
    # the person departed: inactive
    agents["code-reviewer"] = (AgentState.ACTIVE, 4)
    departed = {"maria.garcia@acme.example": PersonStatus.DEPARTED}
    with pytest.raises(InvalidToken) as refused:
        _verifier(ring(key), snapshot(agents=agents, people=departed)).verify(token)
    assert refused.value.reason == "delegator_departed"


def test_act_chains_are_bounded() -> None:
    deep: dict[str, Any] = {"sub": "a0", "charter_version": 1}
    for index in range(1, 8):
        deep = {"sub": f"a{index}", "charter_version": 1, "act": deep}
    with pytest.raises(InvalidToken):
        parse_act(deep)
    assert parse_act({"sub": "a", "charter_version": 2}) == (Actor("a", 2),)
