"""Compact JWS: what the lean signer writes, byte for byte, and the verifier's refusals.

Written against surviving mutants of ``charter.tokens.jws``
(docs/mutation-testing.md). Access tokens are signed by :class:`Signer`, so each
algorithm's output is checked here by PyJWT (an implementation that is not
ours) and its header is pinned exactly; the refusals keep their reason codes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt as pyjwt
import pytest

from charter.tokens.jwk import Alg, generate_private_key
from charter.tokens.jws import JoseError, Signer, decode_claims, parse_compact, sign

CLAIMS = {"sub": "bot", "n": 1, "long": "x" * 40}


def _segment(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("alg", [Alg.EDDSA, Alg.ES256, Alg.RS256])
def test_the_signer_writes_a_jws_another_library_verifies(alg: Alg) -> None:
    key = generate_private_key(alg)
    signer = Signer(key, kid="kid-1", typ="at+jwt")
    assert signer.kid == "kid-1"
    token = signer.sign(CLAIMS)
    head, payload, signature = token.split(".")
    assert (
        _segment(head)
        == json.dumps(
            {"alg": alg.value, "kid": "kid-1", "typ": "at+jwt"}, separators=(",", ":")
        ).encode()
    )
    assert "=" not in token
    assert json.loads(_segment(payload)) == CLAIMS
    if alg == Alg.ES256:
        assert len(_segment(signature)) == 64  # R || S, 32 octets each (RFC 7518 §3.4)
    verified = pyjwt.decode(token, key.public_key(), algorithms=[alg.value])  # type: ignore[arg-type]
    assert verified == CLAIMS
    assert parse_compact(token).claims == CLAIMS


def test_sign_defaults_to_typ_jwt() -> None:
    token = sign({"a": 1}, generate_private_key(Alg.EDDSA), kid=None)
    assert parse_compact(token).header == {"alg": "EdDSA", "typ": "JWT"}


@pytest.mark.parametrize("payload", ["!!!", base64.urlsafe_b64encode(b"[1]").decode()])
def test_claims_that_are_not_a_json_object_are_malformed(payload: str) -> None:
    with pytest.raises(JoseError) as caught:
        decode_claims(payload)
    assert caught.value.reason == "malformed"
    assert str(caught.value) == caught.value.message
    assert caught.value.message in (
        "the JWS payload is not base64url JSON",
        "the JWT claims are not a JSON object",
    )


def test_a_payload_that_is_not_base64_json_says_so() -> None:
    with pytest.raises(JoseError) as caught:
        decode_claims("!!!")
    assert (caught.value.reason, caught.value.message) == (
        "malformed",
        "the JWS payload is not base64url JSON",
    )


def test_a_jose_error_keeps_its_reason_and_message() -> None:
    error: Any = JoseError("bad_signature", "no")
    assert (error.reason, error.message, str(error)) == ("bad_signature", "no", "no")
