"""Compact JWS: what the lean signer writes, byte for byte, and the verifier's refusals.

Written against surviving mutants of ``charter.domain.tokens.jws``
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

from charter.domain.tokens.jwk import Alg, generate_private_key
from charter.domain.tokens.jws import (
    MAX_TOKEN_LENGTH,
    JoseError,
    Signer,
    VerificationKey,
    decode_claims,
    parse_compact,
    sign,
    signature_check,
    split_compact,
)

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


def _resign(token: str, signature: bytes) -> str:
    head, payload, _ = token.split(".")
    return f"{head}.{payload}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", [Alg.EDDSA, Alg.ES256, Alg.RS256])
def test_a_changed_signature_does_not_verify(alg: Alg) -> None:
    key = generate_private_key(alg)
    verifier = VerificationKey.of(key.public_key(), "k")
    token = Signer(key, kid="k", typ="JWT").sign(CLAIMS)
    assert verifier.verify(parse_compact(token)) is True
    raw = _segment(token.split(".")[2])
    flipped = raw[:-1] + bytes([raw[-1] ^ 1])
    assert verifier.verify(parse_compact(_resign(token, flipped))) is False


def test_an_es256_signature_padded_past_64_octets_is_refused() -> None:
    """R || S is exactly 64 octets: a zero octet in front of S must not verify (malleability)."""
    key = generate_private_key(Alg.ES256)
    token = Signer(key, kid="k", typ="JWT").sign(CLAIMS)
    raw = _segment(token.split(".")[2])
    padded = raw[:32] + b"\x00" + raw[32:]
    assert (
        VerificationKey.of(key.public_key(), "k").verify(parse_compact(_resign(token, padded)))
        is False
    )


def test_a_key_and_another_algorithm_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^key is not a ES256 key$"):
        signature_check(generate_private_key(Alg.EDDSA).public_key(), Alg.ES256)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (b"a.b.c", "the token is not a compact JWS of a sensible size"),
        ("a." * 9000 + "b", "the token is not a compact JWS of a sensible size"),
        (".eyJ9.c2ln", "the token is not three base64url segments"),
        ("eyJ9..c2ln", "the token is not three base64url segments"),
        ("eyJ9.eyJ9.", "the token is not three base64url segments"),
        ("eyJ9.eyJ9", "the token is not three base64url segments"),
    ],
)
def test_the_shape_of_a_token_is_checked_first(token: Any, message: str) -> None:
    with pytest.raises(JoseError) as caught:
        split_compact(token)
    assert (caught.value.reason, caught.value.message) == ("malformed", message)


HEAD = "eyJhbGciOiJFUzI1NiJ9"  # {"alg":"ES256"}


def test_a_token_of_exactly_the_size_limit_is_read() -> None:
    payload = "A" * (MAX_TOKEN_LENGTH - len(HEAD) - len("..c2ln"))
    token = f"{HEAD}.{payload}.c2ln"
    assert len(token) == MAX_TOKEN_LENGTH
    assert split_compact(token)[2] == b"sig"


@pytest.mark.parametrize("signature", ["c2l+", "c2l/", "c2l!n", "c2lnAB"])
def test_a_signature_not_spelled_canonically_is_refused(signature: str) -> None:
    with pytest.raises(JoseError) as caught:
        split_compact(f"{HEAD}.eyJ9.{signature}")
    assert (caught.value.reason, caught.value.message) == (
        "bad_signature",
        "the signature is not canonical base64url",
    )


def test_a_signature_that_is_not_ascii_is_malformed() -> None:
    with pytest.raises(JoseError) as caught:
        split_compact(f"{HEAD}.eyJ9.c2lé")
    assert (caught.value.reason, caught.value.message) == (
        "malformed",
        "the token is not base64url ASCII",
    )


def test_a_verification_key_keeps_its_public_key() -> None:
    public = generate_private_key(Alg.EDDSA).public_key()
    key = VerificationKey.of(public, "k")
    assert (key.key, key.kid, key.alg) == (public, "k", Alg.EDDSA)
