"""RFC 9068 access tokens: the claim set issued, the introspection answer, the ``act`` chain.

Written against surviving mutants of ``charter.services.tokens.access_tokens``
(docs/mutation-testing.md). Resource servers read these members by name
(RFC 7662 §2.2, RFC 9068 §2.2, RFC 8693 §4.1), so each one is pinned; the
actor chain has a depth limit, and every refusal keeps its reason and words.
The boundary ``exp == now`` is a known survivor (tests/mutation/survivors.toml),
tested with the others, not here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from tests.unit.tokens.keysets import ISSUER, NOW, base_claims, ring, signing_key, snapshot

from charter.domain.enums import AgentState, PersonStatus
from charter.domain.tokens.claims import MAX_ACT_DEPTH, Actor, access_token_claims, parse_act
from charter.domain.tokens.errors import InvalidToken
from charter.domain.tokens.jwk import b64url_encode
from charter.domain.tokens.jws import sign
from charter.services.tokens.access_tokens import AccessTokenVerifier, check_standing
from charter.services.tokens.state import AgentStatus

KEY = signing_key()
RING = ring(KEY)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "issuer": ISSUER,
        "subject": "bot",
        "client_id": "bot",
        "audience": ("https://api.test",),
        "scopes": ("a.read", "a.write"),
        "issued_at": NOW,
        "expires_at": NOW + 300,
        "jti": "j-1",
        "charter_version": 2,
    }
    return access_token_claims(**{**base, **overrides})


def test_the_claim_set_with_one_audience_and_nothing_optional() -> None:
    assert claims() == {
        "iss": ISSUER,
        "sub": "bot",
        "aud": "https://api.test",
        "client_id": "bot",
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "j-1",
        "scope": "a.read a.write",
        "charter_version": 2,
    }


def test_the_claim_set_with_two_audiences_an_actor_and_a_key() -> None:
    issued = claims(audience=("a", "b"), act={"sub": "bot", "charter_version": 2}, jkt="thumb")
    assert issued["aud"] == ["a", "b"]
    assert issued["act"] == {"sub": "bot", "charter_version": 2}
    assert issued["cnf"] == {"jkt": "thumb"}


def verifier(now: float = NOW + 10) -> AccessTokenVerifier:
    return AccessTokenVerifier(ISSUER, lambda _s: RING, lambda _f: snapshot(), lambda: now)


def issue(body: dict[str, Any]) -> str:
    assert KEY.private is not None
    return sign(body, KEY.private, kid=KEY.kid, typ="at+jwt")


def test_introspection_of_a_bearer_token_with_one_audience() -> None:
    verified = verifier().verify(issue(base_claims(scope="tickets.read tickets.list")))
    assert verified.introspection() == {
        "active": True,
        "scope": "tickets.read tickets.list",
        "client_id": "support-summarizer",
        "token_type": "Bearer",
        "exp": NOW + 900,
        "iat": NOW,
        "sub": "support-summarizer",
        "aud": ISSUER,
        "iss": ISSUER,
        "jti": "jti-1",
        "charter_version": 1,
    }


def test_introspection_of_a_delegated_dpop_token_with_two_audiences() -> None:
    act = {"sub": "support-summarizer", "charter_version": 1}
    body = base_claims(sub="ana@acme.example", aud=[ISSUER, "x"], act=act, cnf={"jkt": "thumb"})
    token = verifier().decode(issue(body))
    answer = token.introspection()
    assert answer["token_type"] == "DPoP"
    assert answer["aud"] == [ISSUER, "x"]
    assert answer["act"] == act
    assert answer["cnf"] == {"jkt": "thumb"}
    assert answer["sub"] == "ana@acme.example"


def test_decode_checks_the_signature_but_not_the_clock() -> None:
    expired = issue(base_claims(exp=NOW - 3600, iat=NOW - 7200))
    late = verifier(now=NOW + 10**6)
    assert late.decode(expired).jti == "jti-1"
    with pytest.raises(InvalidToken) as caught:
        late.verify(expired)
    assert caught.value.reason == "expired"
    with pytest.raises(InvalidToken) as bad:
        late.decode(expired[:-4] + ("AAAA" if not expired.endswith("AAAA") else "BBBB"))
    assert bad.value.reason == "bad_signature"


def chain(depth: int) -> dict[str, Any]:
    act: dict[str, Any] | None = None
    for level in range(depth, 0, -1):
        node: dict[str, Any] = {"sub": f"agent-{level}", "charter_version": level}
        if act is not None:
            node["act"] = act
        act = node
    assert act is not None
    return act


def test_an_actor_chain_may_be_max_depth_long_and_no_longer() -> None:
    actors = parse_act(chain(MAX_ACT_DEPTH))
    assert actors == tuple(Actor(f"agent-{n}", n) for n in range(1, MAX_ACT_DEPTH + 1))
    with pytest.raises(InvalidToken) as caught:
        parse_act(chain(MAX_ACT_DEPTH + 1))
    assert (caught.value.reason, caught.value.message) == (
        "malformed",
        "the token's 'act' claim is not a valid actor chain",
    )


@pytest.mark.parametrize(
    "act",
    [
        {"sub": 5, "charter_version": 1},
        {"sub": "a", "charter_version": True},
        {"sub": "a", "charter_version": "1"},
        {"charter_version": 1},
    ],
)
def test_each_actor_needs_a_name_and_an_integer_version(act: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken) as caught:
        parse_act(act)
    assert (caught.value.reason, caught.value.message) == (
        "malformed",
        "each 'act' needs 'sub' and 'charter_version'",
    )


def test_a_revoked_token_says_so() -> None:
    token = verifier().verify(issue(base_claims()))
    with pytest.raises(InvalidToken) as caught:
        check_standing(token, snapshot(revoked=frozenset({"jti-1"})), "2027-01-01")
    assert (caught.value.reason, caught.value.message) == ("revoked", "the token was revoked")


def test_an_agent_whose_charter_expired_yesterday_is_refused() -> None:
    token = verifier().verify(issue(base_claims()))
    status = AgentStatus(AgentState.ACTIVE, 1, NOW - 3600, expires="2027-01-01")
    expiring = replace(snapshot(), agents={"support-summarizer": status})
    check_standing(token, expiring, "2027-01-01")  # valid through its last day
    with pytest.raises(InvalidToken) as caught:
        check_standing(token, expiring, "2027-01-02")
    assert (caught.value.reason, caught.value.message) == (
        "charter_expired",
        "the charter of support-summarizer has expired",
    )


def standing(token_claims: dict[str, Any], state: Any, today: str = "2027-01-01") -> str | None:
    token = verifier().decode(issue(token_claims))
    try:
        check_standing(token, state, today)
    except InvalidToken as refused:
        return f"{refused.reason}: {refused.message}"
    return None


def test_a_token_issued_in_the_second_of_a_change_or_floor_stands() -> None:
    changed = snapshot(changed_at=NOW)
    assert standing(base_claims(iat=NOW), changed) is None
    assert standing(base_claims(iat=NOW - 1), changed) == (
        "agent_changed: agent support-summarizer changed after the token was issued"
    )
    floored = snapshot(floors={"support-summarizer": NOW})
    assert standing(base_claims(iat=NOW), floored) is None
    assert standing(base_claims(iat=NOW - 1), floored) == (
        "revoked: every earlier token of support-summarizer was revoked"
    )


def test_each_agent_refusal_in_words() -> None:
    assert standing(base_claims(), snapshot(agents={})) == (
        "agent_unknown: agent support-summarizer is not registered"
    )
    assert (
        standing(base_claims(), snapshot(agents={"support-summarizer": (AgentState.SUSPENDED, 1)}))
        == "agent_not_active: agent support-summarizer is suspended"
    )
    assert standing(
        base_claims(), snapshot(agents={"support-summarizer": (AgentState.ACTIVE, 2)})
    ) == (
        "charter_changed: agent support-summarizer is now at charter v2; the token was issued "
        "under v1"
    )


def test_a_delegated_token_needs_every_actor_current_and_the_person_active() -> None:
    act = {"sub": "support-summarizer", "charter_version": 1}
    body = base_claims(sub="ana@acme.example", act=act)
    assert standing(body, snapshot()) == (
        "delegator_departed: ana@acme.example, on whose behalf the token acts, is not active"
    )
    status = AgentStatus(AgentState.ACTIVE, 1, NOW - 3600, expires="2026-12-31")
    people = snapshot(people={"ana@acme.example": PersonStatus.ACTIVE})
    expired = replace(people, agents={"support-summarizer": status})
    assert standing(body, people) is None
    assert standing(body, expired, today="2026-12-31") is None
    assert standing(body, expired, today="2027-01-01") == (
        "charter_expired: the charter of support-summarizer has expired"
    )


def test_the_charter_expiry_date_follows_the_verifier_clock_day_by_day() -> None:
    just_after_midnight = 20_833 * 86_400 + 100  # 2027-01-15 00:01:40 UTC
    clock = [float(just_after_midnight)]
    status = AgentStatus(AgentState.ACTIVE, 1, just_after_midnight - 60, expires="2027-01-15")
    state = replace(snapshot(), agents={"support-summarizer": status})
    checker = AccessTokenVerifier(ISSUER, lambda _s: RING, lambda _f: state, lambda: clock[0])
    token = issue(base_claims(iat=just_after_midnight, exp=just_after_midnight + 10**6))
    assert checker.verify(token).jti == "jti-1"  # the last valid day
    clock[0] += 86_400  # the next day: expired
    with pytest.raises(InvalidToken) as caught:
        checker.verify(token)
    assert caught.value.reason == "charter_expired"


def refusal(body: dict[str, Any], **verify: Any) -> tuple[str, str]:
    with pytest.raises(InvalidToken) as caught:
        verifier().verify(issue(body), **verify)
    return caught.value.reason, caught.value.message


@pytest.mark.parametrize(
    ("overrides", "reason", "message"),
    [
        ({"iss": "https://other"}, "wrong_issuer", "the token was not issued by this server"),
        ({"aud": []}, "malformed", "the token's 'aud' is missing"),
        ({"aud": [5]}, "malformed", "the token's 'aud' is missing"),
        ({"cnf": {"x": 1}}, "malformed", "the token's 'cnf' has no 'jkt'"),
        ({"cnf": "thumb"}, "malformed", "the token's 'cnf' has no 'jkt'"),
        ({"sub": None}, "malformed", "the token lacks a string jti, sub, client_id or scope"),
        ({"client_id": ""}, "malformed", "the token lacks a string jti, sub, client_id or scope"),
        ({"iat": "now"}, "malformed", "the token's iat, exp and charter_version must be integers"),
        (
            {"act": {"sub": "other-agent", "charter_version": 1}},
            "malformed",
            "the token's current actor is not its client",
        ),
    ],
)
def test_each_structural_refusal_in_words(
    overrides: dict[str, Any], reason: str, message: str
) -> None:
    assert refusal(base_claims(**overrides)) == (reason, message)


def test_a_bearer_token_has_no_key_and_a_bound_one_keeps_its_thumbprint() -> None:
    bearer = verifier().verify(issue(base_claims()))
    assert bearer.jkt is None
    assert bearer.issuer == ISSUER
    bound = verifier().verify(issue(base_claims(cnf={"jkt": "thumb"})))
    assert bound.jkt == "thumb"


def test_a_token_without_scope_has_none() -> None:
    assert verifier().verify(issue(base_claims(scope=None))).scope_names == ()


def test_the_clock_refusals_in_words() -> None:
    assert refusal(base_claims(exp=NOW)) == ("expired", "the token has expired")
    assert verifier().verify(issue(base_claims(iat=NOW + 10 + 30))).jti == "jti-1"
    assert refusal(base_claims(iat=NOW + 10 + 31)) == (
        "not_yet_valid",
        "the token was issued in the future",
    )
    assert refusal(base_claims(), audience="https://elsewhere") == (
        "wrong_audience",
        "the token is not meant for https://elsewhere",
    )


def test_key_and_signature_refusals_in_words() -> None:
    other = signing_key()
    assert other.private is not None
    foreign = sign(base_claims(), other.private, kid=other.kid, typ="at+jwt")
    with pytest.raises(InvalidToken) as unknown:
        verifier().verify(foreign)
    assert (unknown.value.reason, unknown.value.message) == (
        "unknown_key",
        f"no current signing key {other.kid!r}",
    )
    assert KEY.private is not None
    header = {"alg": "ES256", "typ": "at+jwt", "kid": [1]}
    _, payload, signature = issue(base_claims()).split(".")
    odd_kid = f"{b64url_encode(json.dumps(header).encode())}.{payload}.{signature}"
    with pytest.raises(InvalidToken) as listed:
        verifier().verify(odd_kid)
    assert listed.value.reason == "unknown_key"
    forged = sign(base_claims(), other.private, kid=KEY.kid, typ="at+jwt")
    with pytest.raises(InvalidToken) as bad:
        verifier().verify(forged)
    assert (bad.value.reason, bad.value.message) == (
        "bad_signature",
        "the token's signature does not verify",
    )
    plain = sign(base_claims(), KEY.private, kid=KEY.kid, typ="JWT")
    with pytest.raises(InvalidToken) as typed:
        verifier().verify(plain)
    assert (typed.value.reason, typed.value.message) == (
        "wrong_type",
        "not an access token (typ must be at+jwt)",
    )
    with pytest.raises(InvalidToken) as shapeless:
        verifier().verify("a.b")
    assert (shapeless.value.reason, shapeless.value.message) == (
        "malformed",
        "the token is not three base64url segments",
    )


def test_the_verifier_reads_a_cached_snapshot_and_its_own_key_ring() -> None:
    asked: list[Any] = []
    state = snapshot()

    def snapshots(fresh: Any) -> Any:
        asked.append(fresh)
        return state

    def keyring(seen: Any) -> Any:
        asked.append(seen)
        return RING

    checker = AccessTokenVerifier(ISSUER, keyring, snapshots, lambda: NOW + 10)
    checker.verify(issue(base_claims()))
    assert asked[0] is False
    assert asked[1] is state
    checker.verify(issue(base_claims()), fresh=True)
    assert asked[2] is True


def test_the_verified_token_cache_is_bounded_and_can_be_forgotten() -> None:
    checker = AccessTokenVerifier(
        ISSUER, lambda _s: RING, lambda _f: snapshot(), lambda: NOW + 10, cache_size=1
    )
    checker.verify(issue(base_claims(jti="a")))
    checker.verify(issue(base_claims(jti="b")))
    assert len(checker._cache) == 1
    checker.forget()
    assert checker._cache == {}


def test_the_first_failing_standing_check_is_the_one_named() -> None:
    expired = AgentStatus(AgentState.ACTIVE, 1, NOW, expires="2026-12-31")
    state = replace(snapshot(), agents={"support-summarizer": expired})
    assert standing(base_claims(iat=NOW), state, today="2027-01-01") == (
        "charter_expired: the charter of support-summarizer has expired"
    )
    today = AgentStatus(AgentState.ACTIVE, 1, NOW - 3600, expires="2027-01-01")
    floored = replace(
        snapshot(floors={"support-summarizer": NOW + 1}), agents={"support-summarizer": today}
    )
    assert standing(base_claims(iat=NOW), floored, today="2027-01-01") == (
        "revoked: every earlier token of support-summarizer was revoked"
    )


def test_decode_reads_a_cached_snapshot_for_its_key_ring() -> None:
    asked: list[Any] = []
    state = snapshot()

    def snapshots(fresh: Any) -> Any:
        asked.append(fresh)
        return state

    def keyring(seen: Any) -> Any:
        asked.append(seen)
        return RING

    AccessTokenVerifier(ISSUER, keyring, snapshots, lambda: NOW).decode(issue(base_claims()))
    assert asked[0] is False
    assert asked[1] is state
