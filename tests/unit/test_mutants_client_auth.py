"""private_key_jwt (RFC 7523): each refusal's reason and words, and the edges of ``exp``.

Written against surviving mutants of ``charter.domain.tokens.client_auth``
(docs/mutation-testing.md). An agent's developer reads the description to fix
their client; the reason is what dashboards count; both are contract.
"""

from __future__ import annotations

from typing import Any

import pytest

from charter.domain.tokens.client_auth import (
    ASSERTION_TYPE,
    CLOCK_SKEW,
    MAX_ASSERTION_LIFETIME,
    ClientKey,
    authenticate,
    require_assertion_type,
)
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.domain.tokens.jwk import Alg, generate_private_key, jwk_from_public_key
from charter.domain.tokens.jws import VerificationKey, sign

AS = "https://charter.test"
NOW = 1_800_000_000
AGENT = "support-summarizer"
KEY = generate_private_key(Alg.EDDSA)
KID = jwk_from_public_key(KEY.public_key())["kid"]


def keys(agent: str) -> list[ClientKey]:
    return [ClientKey(agent, VerificationKey.of(KEY.public_key(), KID))] if agent == AGENT else []


def assertion(key: Any = KEY, kid: str | None = KID, **overrides: Any) -> str:
    claims = {"iss": AGENT, "sub": AGENT, "aud": AS, "iat": NOW, "exp": NOW + 60, "jti": "j-1"}
    claims.update(overrides)
    return sign({k: v for k, v in claims.items() if v is not None}, key, kid=kid)


def refused(token: str, client_id: str | None = None) -> tuple[str, str]:
    with pytest.raises(OAuthError) as caught:
        authenticate(token, client_id=client_id, keys_for=keys, audiences={AS}, now=NOW)
    error = caught.value
    assert error.error is OAuthErrorCode.INVALID_CLIENT
    assert error.field == "client_assertion"
    return error.reason, error.message


@pytest.mark.parametrize(
    ("token", "client_id", "reason", "message"),
    [
        (
            assertion(sub="other"),
            None,
            "issuer_mismatch",
            "the assertion's 'iss' and 'sub' must both be the client id",
        ),
        (
            assertion(),
            "someone-else",
            "issuer_mismatch",
            "client_id does not match the assertion's issuer",
        ),
        (
            assertion(generate_private_key(Alg.EDDSA)),
            None,
            "bad_signature",
            "the assertion's signature does not verify",
        ),
        (assertion(exp=None), None, "malformed", "the assertion has no 'exp'"),
        (
            assertion(exp="tomorrow"),
            None,
            "malformed",
            "the assertion's 'exp' is not a NumericDate",
        ),
        (assertion(exp=NOW - 3600), None, "assertion_expired", "the assertion has expired"),
        (
            assertion(kid="nope"),
            None,
            "unknown_key",
            f"key 'nope' is not enrolled (or was revoked) for {AGENT}",
        ),
    ],
)
def test_each_refusal_has_its_reason_and_words(
    token: str, client_id: str | None, reason: str, message: str
) -> None:
    assert refused(token, client_id) == (reason, message)


def test_an_unreadable_assertion_says_so() -> None:
    reason, message = refused("not-a-jwt")
    assert reason == "malformed"
    assert message.startswith("the client assertion is unreadable: ")


def test_an_unknown_client_is_named_in_at_most_63_characters() -> None:
    name = "a" * 100
    assert refused(assertion(iss=name, sub=name)) == (
        "unknown_client",
        f"no enrolled key for client {'a' * 63!r}",
    )


def test_exp_is_refused_from_clock_skew_ago_and_accepted_just_after() -> None:
    def accepted(exp: int) -> bool:
        try:
            authenticate(assertion(exp=exp), client_id=None, keys_for=keys, audiences={AS}, now=NOW)
        except OAuthError:
            return False
        return True

    assert accepted(NOW - CLOCK_SKEW) is False
    assert accepted(NOW - CLOCK_SKEW + 1) is True
    assert accepted(NOW + 1) is True


def test_only_the_jwt_bearer_assertion_type_is_accepted() -> None:
    require_assertion_type(ASSERTION_TYPE)
    with pytest.raises(OAuthError) as caught:
        require_assertion_type("client_secret_basic")
    error = caught.value
    assert error.error is OAuthErrorCode.INVALID_CLIENT
    assert error.reason == "unsupported_client_auth"
    assert error.field == "client_assertion_type"
    assert error.message == (
        "client authentication must be private_key_jwt: "
        "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )


def accepted(**overrides: Any) -> bool:
    try:
        authenticate(assertion(**overrides), client_id=None, keys_for=keys, audiences={AS}, now=NOW)
    except OAuthError:
        return False
    return True


def test_the_edges_of_lifetime_nbf_and_iat() -> None:
    longest = NOW + MAX_ASSERTION_LIFETIME + CLOCK_SKEW
    assert accepted(exp=longest) is True
    assert refused(assertion(exp=longest + 1)) == (
        "assertion_too_long",
        "the assertion lives longer than 300 s; make a fresh, short-lived one per request",
    )
    assert accepted(nbf=NOW) is True
    assert accepted(nbf=NOW + CLOCK_SKEW) is True
    assert accepted(iat=NOW + CLOCK_SKEW) is True
    not_yet = ("assertion_not_yet_valid", "the assertion is not valid yet")
    assert refused(assertion(nbf=NOW + CLOCK_SKEW + 1)) == not_yet
    assert refused(assertion(iat=NOW + CLOCK_SKEW + 1)) == not_yet


def test_a_wrong_audience_names_every_accepted_one() -> None:
    with pytest.raises(OAuthError) as caught:
        authenticate(
            assertion(aud="https://evil.test"),
            client_id=None,
            keys_for=keys,
            audiences={AS, "https://charter.test/oauth/token"},
            now=NOW,
        )
    assert caught.value.reason == "wrong_audience"
    assert caught.value.message == (
        "the assertion's 'aud' must name this authorization server "
        "(https://charter.test or https://charter.test/oauth/token)"
    )


@pytest.mark.parametrize(("jti", "ok"), [("j" * 256, True), ("j" * 257, False), (5, False)])
def test_the_jti_is_a_string_of_at_most_256_characters(jti: Any, ok: bool) -> None:
    if ok:
        assert accepted(jti=jti) is True
    else:
        assert refused(assertion(jti=jti)) == (
            "missing_jti",
            "the assertion needs a unique 'jti' (at most 256 characters)",
        )
