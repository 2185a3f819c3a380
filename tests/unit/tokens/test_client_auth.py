"""private_key_jwt (RFC 7523): every refusal has its reason and is invalid_client (401)."""

from __future__ import annotations

from typing import Any

import pytest

from charter.domain.tokens.client_auth import (
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
P256 = generate_private_key(Alg.ES256)
P256_KID = jwk_from_public_key(P256.public_key())["kid"]


def _keys(agent: str) -> list[ClientKey]:
    if agent != AGENT:
        return []
    return [
        ClientKey(agent, VerificationKey.of(KEY.public_key(), KID)),
        ClientKey(agent, VerificationKey.of(P256.public_key(), P256_KID)),
    ]


def _assertion(key: Any = KEY, kid: str | None = KID, **overrides: Any) -> str:
    claims = {"iss": AGENT, "sub": AGENT, "aud": AS, "iat": NOW, "exp": NOW + 60, "jti": "j-1"}
    claims.update(overrides)
    return sign({k: v for k, v in claims.items() if v is not None}, key, kid=kid)


def _auth(assertion: str, client_id: str | None = None) -> Any:
    return authenticate(assertion, client_id=client_id, keys_for=_keys, audiences={AS}, now=NOW)


def test_a_good_assertion_authenticates_and_yields_its_jti_to_consume() -> None:
    client = _auth(_assertion())
    assert (client.client_id, client.kid) == (AGENT, KID)
    assert (client.use.namespace, client.use.issuer, client.use.jti) == ("assertion", AGENT, "j-1")
    assert client.use.expires_at >= NOW + 60
    # kid is optional: every enrolled key is tried; P-256 works too; aud may be a list
    assert _auth(_assertion(P256, kid=None, aud=["x", AS])).kid == P256_KID


@pytest.mark.parametrize(
    ("assertion", "client_id", "reason"),
    [
        (_assertion(exp=NOW - 120), None, "assertion_expired"),
        (_assertion(exp=NOW + MAX_ASSERTION_LIFETIME + 3600), None, "assertion_too_long"),
        (_assertion(nbf=NOW + 600), None, "assertion_not_yet_valid"),
        (_assertion(iat=NOW + 600), None, "assertion_not_yet_valid"),
        (_assertion(aud="https://other.test"), None, "wrong_audience"),
        (_assertion(aud=None), None, "wrong_audience"),
        (_assertion(jti=None), None, "missing_jti"),
        (_assertion(jti="x" * 300), None, "missing_jti"),
        (_assertion(exp=None), None, "malformed"),
        (_assertion(exp="soon"), None, "malformed"),
        (_assertion(kid="not-enrolled"), None, "unknown_key"),
        (_assertion(generate_private_key(Alg.EDDSA), kid=KID), None, "bad_signature"),
        (_assertion(generate_private_key(Alg.EDDSA), kid=None), None, "bad_signature"),
        (_assertion(iss="finance-reconciler", sub="finance-reconciler"), None, "unknown_client"),
        (_assertion(sub="someone-else"), None, "issuer_mismatch"),
        (_assertion(), "finance-reconciler", "issuer_mismatch"),
        ("not.a.jwt", None, "malformed"),
        ("", None, "malformed"),
    ],
)
def test_each_refusal_is_invalid_client_with_its_reason(
    assertion: str, client_id: str | None, reason: str
) -> None:
    with pytest.raises(OAuthError) as refused:
        _auth(assertion, client_id)
    assert refused.value.error == OAuthErrorCode.INVALID_CLIENT
    assert refused.value.status == 401
    assert refused.value.reason == reason


def test_only_private_key_jwt_is_accepted() -> None:
    require_assertion_type("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    for other in (
        None,
        "client_secret_post",
        "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
    ):
        with pytest.raises(OAuthError) as refused:
            require_assertion_type(other)
        assert refused.value.error == OAuthErrorCode.INVALID_CLIENT
