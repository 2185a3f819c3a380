"""RFC 8693 subject tokens: an identity provider's token checked claim by claim, and chains.

Written against surviving mutants of ``charter.domain.tokens.token_exchange``
(docs/mutation-testing.md). The subject token decides *whose* authority an
agent gets, so every refusal, every edge of ``exp``/``nbf`` and the person read
from it are pinned here, against a real trusted-issuer registry on SQLite.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from charter.config import Settings
from charter.domain.tokens.claims import Actor, VerifiedToken
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.domain.tokens.jwk import Alg, b64url_encode, generate_private_key, jwk_from_public_key
from charter.domain.tokens.jws import sign
from charter.domain.tokens.token_exchange import (
    CLOCK_SKEW,
    ExchangeSubject,
    check_may_act,
    subject_from_charter_token,
    unverified_issuer,
    verify_idp_token,
)
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.tokens.trusted_issuers import TrustedIssuers

IDP = "https://idp.acme.example"
PINNED = "https://pinned.acme.example"
CHARTER = "https://charter.test"
NOW = 1_800_000_000
KEY = generate_private_key(Alg.ES256)
JWK = jwk_from_public_key(KEY.public_key())

Verify = Callable[[str], ExchangeSubject]


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrustedIssuers]:
    """One store for the module: the registry is only read by the checks under test."""
    home = tmp_path_factory.mktemp("exchange")
    services = Services.from_settings(
        Settings(home=home, database_url=f"sqlite:///{home / 'charter.db'}"),
        clock=FixedClock(dt.datetime.fromtimestamp(NOW, dt.UTC)),
    )
    registry = services.tokens.trusted
    registry.add(IDP, actor="admin@acme.example", jwks={"keys": [JWK]})
    registry.add(
        PINNED,
        actor="admin@acme.example",
        jwks={"keys": [JWK]},
        audience="urn:charter",
        subject_claim="upn",
    )
    yield registry
    services.close()


@pytest.fixture
def verify(trusted: TrustedIssuers) -> Verify:
    def run(token: str) -> ExchangeSubject:
        return verify_idp_token(token, trusted, our_audiences={CHARTER}, now=NOW)

    return run


def token(key: Any = KEY, **overrides: Any) -> str:
    claims = {"iss": IDP, "aud": CHARTER, "exp": NOW + 300, "email": " Ana@Acme.Example "}
    claims.update(overrides)
    return sign({k: v for k, v in claims.items() if v is not None}, key, kid=JWK["kid"])


def refusal(verify: Verify, subject_token: str) -> tuple[str, str]:
    with pytest.raises(OAuthError) as caught:
        verify(subject_token)
    assert caught.value.error is OAuthErrorCode.INVALID_REQUEST
    assert caught.value.field == "subject_token"
    return caught.value.reason, caught.value.message


def test_a_good_token_names_the_person_lower_cased(verify: Verify) -> None:
    subject = verify(token(may_act={"sub": "bot"}))
    assert subject == ExchangeSubject("ana@acme.example", IDP, NOW + 300, {"sub": "bot"})
    assert verify(token(exp=NOW + 300.9)).expires_at == NOW + 300


@pytest.mark.parametrize(
    ("overrides", "reason", "message"),
    [
        ({"exp": None}, "malformed", "the subject_token has no 'exp'"),
        ({"exp": True}, "malformed", "the subject_token has no 'exp'"),
        ({"exp": NOW - 3600}, "subject_expired", "the subject_token has expired"),
        ({"nbf": NOW + 3600}, "subject_not_yet_valid", "the subject_token is not valid yet"),
        (
            {"aud": "https://other"},
            "wrong_audience",
            "the subject_token's 'aud' does not name Charter",
        ),
        ({"aud": None}, "wrong_audience", "the subject_token's 'aud' does not name Charter"),
        ({"aud": ["x", 7]}, "wrong_audience", "the subject_token's 'aud' does not name Charter"),
        ({"email": "no-at-sign"}, "no_person", "the subject_token's 'email' is not an e-mail"),
        ({"email": 42}, "no_person", "the subject_token's 'email' is not an e-mail"),
        ({"email": "a@" + "b" * 319}, "no_person", "the subject_token's 'email' is not an e-mail"),
        ({"may_act": "bot"}, "malformed", "the subject_token's 'may_act' is not an object"),
    ],
)
def test_each_claim_is_checked_with_its_reason(
    verify: Verify, overrides: dict[str, Any], reason: str, message: str
) -> None:
    assert refusal(verify, token(**overrides)) == (reason, message)


def test_the_edges_of_exp_and_nbf(verify: Verify) -> None:
    assert refusal(verify, token(exp=NOW - CLOCK_SKEW))[0] == "subject_expired"
    assert verify(token(exp=NOW - CLOCK_SKEW + 1)).expires_at == NOW - CLOCK_SKEW + 1
    assert verify(token(nbf=NOW + CLOCK_SKEW)).person == "ana@acme.example"
    assert refusal(verify, token(nbf=NOW + CLOCK_SKEW + 1))[0] == "subject_not_yet_valid"
    assert verify(token(nbf="later")).person == "ana@acme.example"  # not a number: ignored


def test_an_audience_list_and_an_e_mail_of_320_characters_are_accepted(verify: Verify) -> None:
    assert verify(token(aud=["x", CHARTER])).issuer == IDP
    longest = "a@" + "b" * 318
    assert verify(token(email=longest)).person == longest


def test_a_pinned_audience_and_subject_claim_replace_the_defaults(verify: Verify) -> None:
    pinned = token(iss=PINNED, aud="urn:charter", email=None, upn="Bo@Acme.Example")
    assert verify(pinned).person == "bo@acme.example"
    assert refusal(verify, token(iss=PINNED, aud=CHARTER, upn="bo@acme.example"))[0] == (
        "wrong_audience"
    )
    assert refusal(verify, token(iss=PINNED, aud="urn:charter", upn="bo")) == (
        "no_person",
        "the subject_token's 'upn' is not an e-mail",
    )


def test_an_untrusted_issuer_is_named_in_at_most_100_characters(verify: Verify) -> None:
    long = "https://" + "x" * 200
    assert refusal(verify, token(iss=long)) == (
        "untrusted_issuer",
        f"subject_token issuer {long[:100]!r} is not trusted",
    )
    assert refusal(verify, token(iss=None)) == (
        "untrusted_issuer",
        "subject_token issuer 'None' is not trusted",
    )


def test_a_foreign_signature_and_an_unreadable_token_are_refused(verify: Verify) -> None:
    assert refusal(verify, token(generate_private_key(Alg.ES256))) == (
        "bad_signature",
        "the subject_token's signature does not verify",
    )
    reason, message = refusal(verify, "garbage")
    assert reason == "malformed"
    assert message.startswith("the subject_token is unreadable: ")


def test_unverified_issuer_reads_iss_or_refuses_an_unreadable_token() -> None:
    assert unverified_issuer(token()) == IDP
    header = b64url_encode(json.dumps({"alg": "ES256"}).encode())
    body = b64url_encode(json.dumps({"iss": 5}).encode())
    assert unverified_issuer(f"{header}.{body}.c2ln") is None
    with pytest.raises(OAuthError) as caught:
        unverified_issuer("garbage")
    assert caught.value.reason == "malformed"
    assert caught.value.field == "subject_token"
    assert caught.value.message.startswith("the subject_token is unreadable: ")


def charter_token(actors: tuple[Actor, ...], claims: dict[str, Any]) -> VerifiedToken:
    payload = b64url_encode(json.dumps(claims).encode())
    return VerifiedToken(
        "jti-1",
        CHARTER,
        "ana@acme.example",
        "bot-b",
        (CHARTER,),
        ("a.read", "a.list"),
        NOW,
        NOW + 600,
        3,
        actors,
        None,
        "kid-1",
        payload,
    )


def test_a_charter_token_extends_its_chain_with_its_limits() -> None:
    delegated = charter_token((Actor("bot-a", 2),), {"may_act": {"sub": "bot-b"}})
    assert subject_from_charter_token(delegated) == ExchangeSubject(
        person="ana@acme.example",
        issuer=CHARTER,
        expires_at=NOW + 600,
        may_act={"sub": "bot-b"},
        actors=(Actor("bot-a", 2),),
        scopes=frozenset({"a.read", "a.list"}),
    )
    odd = charter_token((Actor("bot-a", 2),), {"may_act": "bot-b"})
    assert subject_from_charter_token(odd).may_act is None


def test_an_agents_own_token_cannot_be_delegated() -> None:
    with pytest.raises(OAuthError) as caught:
        subject_from_charter_token(charter_token((), {}))
    assert caught.value.error is OAuthErrorCode.INVALID_GRANT
    assert caught.value.reason == "not_delegated"
    assert caught.value.message == (
        "bot-b's own token cannot be delegated: only a person's authority can"
    )


def test_may_act_names_the_refused_agent_and_accepts_our_issuer() -> None:
    ours = ExchangeSubject("p@x.example", IDP, 0, {"sub": "bot", "iss": CHARTER})
    check_may_act(ours, "bot", CHARTER)
    with pytest.raises(OAuthError) as caught:
        check_may_act(ours, "other", CHARTER)
    assert caught.value.message == "the subject_token's may_act does not name other"


def test_the_key_is_chosen_by_the_tokens_kid(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A token signed by one of the issuer's keys but naming another kid does not verify."""
    home = tmp_path_factory.mktemp("kids")
    services = Services.from_settings(
        Settings(home=home, database_url=f"sqlite:///{home / 'charter.db'}"),
        clock=FixedClock(dt.datetime.fromtimestamp(NOW, dt.UTC)),
    )
    second = generate_private_key(Alg.ES256)
    other_jwk = jwk_from_public_key(second.public_key())
    services.tokens.trusted.add(IDP, actor="admin@acme.example", jwks={"keys": [JWK, other_jwk]})
    claims = {"iss": IDP, "aud": CHARTER, "exp": NOW + 300, "email": "ana@acme.example"}
    good = sign(claims, second, kid=other_jwk["kid"])
    misnamed = sign(claims, second, kid=JWK["kid"])
    try:
        trusted = services.tokens.trusted
        assert verify_idp_token(good, trusted, our_audiences={CHARTER}, now=NOW).person == (
            "ana@acme.example"
        )
        with pytest.raises(OAuthError) as caught:
            verify_idp_token(misnamed, trusted, our_audiences={CHARTER}, now=NOW)
        assert caught.value.reason == "bad_signature"
    finally:
        services.close()
