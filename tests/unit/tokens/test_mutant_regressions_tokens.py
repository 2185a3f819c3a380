"""Edges of the token checks that hand-applied mutations showed no test pinned down.

Each test here fails when its check is weakened by one token: the ``aud`` list
of a client assertion matched loosely, a DPoP proof's missing ``htm`` let
through, an access token accepted in the second its ``exp`` names.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.tokens.keysets import NOW, base_claims, ring, signing_key, snapshot
from tests.unit.tokens.test_client_auth import AGENT, AS, KEY, KID, _keys
from tests.unit.tokens.test_dpop import URL, _proof

from charter.domain.tokens.client_auth import authenticate
from charter.domain.tokens.dpop import DPoPError, check_proof
from charter.domain.tokens.errors import InvalidToken, OAuthError
from charter.domain.tokens.jws import sign
from charter.services.tokens.access_tokens import AccessTokenVerifier

TOKEN_ENDPOINT = f"{AS}/oauth/token"


def _assertion_with(aud: Any) -> str:
    claims = {"iss": AGENT, "sub": AGENT, "aud": aud, "iat": NOW, "exp": NOW + 60, "jti": "j-9"}
    return sign(claims, KEY, kid=KID)


@pytest.mark.parametrize(
    "aud",
    [[TOKEN_ENDPOINT], ["https://other.example", TOKEN_ENDPOINT], [AS, "https://other.example"]],
)
def test_an_assertion_audience_list_naming_us_is_accepted(aud: list[str]) -> None:
    client = authenticate(
        _assertion_with(aud),
        client_id=None,
        keys_for=_keys,
        audiences={AS, TOKEN_ENDPOINT},
        now=NOW,
    )
    assert client.client_id == AGENT


@pytest.mark.parametrize(
    "aud",
    [
        ["https://other.example"],
        ["https://other.example", f"{TOKEN_ENDPOINT}/"],
        [],
        [None, 7],
        [[TOKEN_ENDPOINT]],
        [f"{AS}/oauth"],  # a prefix of the token endpoint is not the token endpoint
        f"{AS}/oauth",
    ],
)
def test_an_assertion_audience_not_naming_us_is_refused(aud: Any) -> None:
    with pytest.raises(OAuthError) as refused:
        authenticate(
            _assertion_with(aud),
            client_id=None,
            keys_for=_keys,
            audiences={AS, TOKEN_ENDPOINT},
            now=NOW,
        )
    assert refused.value.reason == "wrong_audience"


@pytest.mark.parametrize("htm", [None, "", "post"])
def test_a_dpop_proof_without_the_request_method_is_refused(htm: str | None) -> None:
    proof = _proof(htm=htm)  # None: no htm claim at all
    with pytest.raises(DPoPError) as refused:
        check_proof(proof, htm="POST", htu=[URL], now=NOW)
    assert refused.value.reason == "dpop_wrong_htm"


def test_an_access_token_is_expired_from_the_second_its_exp_names() -> None:
    """RFC 7519 §4.1.4: not accepted "on or after" ``exp``."""
    key = signing_key()
    assert key.private is not None
    token = sign(base_claims(exp=NOW + 900), key.private, kid=key.kid, typ="at+jwt")

    def verify_at(now: float) -> Any:
        verifier = AccessTokenVerifier(
            "https://charter.test", lambda _s: ring(key), lambda _f: snapshot(), lambda: now
        )
        return verifier.verify(token)

    assert verify_at(NOW + 899.999).agent == "support-summarizer"
    for now in (NOW + 900, NOW + 900.5):
        with pytest.raises(InvalidToken) as refused:
            verify_at(now)
        assert refused.value.reason == "expired"
