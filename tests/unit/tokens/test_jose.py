"""JWK (RFC 7517/7638) and compact JWS (RFC 7515) handling, against the RFCs' own vectors."""

from __future__ import annotations

import base64
import json

import pytest

from charter.domain.tokens.dpop import access_token_hash
from charter.domain.tokens.jwk import (
    Alg,
    generate_private_key,
    jwk_from_public_key,
    load_private_key_pem,
    load_public_key,
    private_key_pem,
    public_key_from_jwk,
    thumbprint,
)
from charter.domain.tokens.jws import JoseError, VerificationKey, parse_compact, sign
from charter.errors import InvalidInput

RFC7638_KEY = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
    "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
    "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
    "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_rfc7638_thumbprint_vector() -> None:
    assert thumbprint(RFC7638_KEY) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rfc9449_ath_vector() -> None:
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


@pytest.mark.parametrize("alg", [Alg.EDDSA, Alg.ES256, Alg.RS256])
def test_jwk_round_trip_and_kid_is_the_thumbprint(alg: Alg) -> None:
    private = generate_private_key(alg)
    jwk = jwk_from_public_key(private.public_key())
    assert jwk["kid"] == thumbprint(jwk) and jwk["alg"] == alg.value and "d" not in jwk
    public, parsed_alg = public_key_from_jwk(jwk)
    assert parsed_alg == alg
    assert jwk_from_public_key(public) == jwk
    pem = private_key_pem(private)
    assert load_private_key_pem(pem).public_key() == private.public_key() or alg == Alg.EDDSA
    assert load_public_key(json.dumps(jwk).encode())[1] == alg


@pytest.mark.parametrize(
    ("jwk", "field"),
    [
        ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "d": "AAAA"}, "jwk"),
        ({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}, "jwk.crv"),
        ({"kty": "OKP", "crv": "X25519", "x": "AA"}, "jwk.crv"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "jwk"),
        ({"kty": "EC", "crv": "P-256", "x": "AQ", "y": "AQ"}, "jwk"),
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB"}, "jwk"),
        ({"kty": "DSA"}, "jwk.kty"),
    ],
)
def test_unusable_or_private_jwks_are_refused_naming_the_field(
    jwk: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        public_key_from_jwk(jwk)
    assert refused.value.field == field


def test_a_jwk_declaring_another_alg_is_refused() -> None:
    jwk = jwk_from_public_key(generate_private_key(Alg.ES256).public_key())
    with pytest.raises(InvalidInput):
        public_key_from_jwk({**jwk, "alg": "RS256"})


def test_compact_parsing_refuses_what_is_not_a_jws() -> None:
    key = generate_private_key(Alg.EDDSA)
    token = sign({"a": 1}, key, kid="k")
    assert parse_compact(token).claims == {"a": 1}
    head, payload, signature = token.split(".")
    not_json = base64.urlsafe_b64encode(b"[1,2]").rstrip(b"=").decode()
    for bad in [
        "",
        "a.b",
        "a.b.c.d",
        token + "!",
        f"{head}.{payload}.{signature}=",
        f"{head}.{not_json}.{signature}",
        "x" * 20_000,
        f"{not_json}.{payload}.{signature}",
    ]:
        with pytest.raises(JoseError):
            parse_compact(bad)


def test_the_key_fixes_the_algorithm() -> None:
    ed = generate_private_key(Alg.EDDSA)
    verifier = VerificationKey.of(ed.public_key(), "k")
    token = sign({"a": 1}, ed, kid="k")
    assert verifier.verify(parse_compact(token))
    _head, payload, signature = token.split(".")
    es_head = base64.urlsafe_b64encode(b'{"alg":"ES256","kid":"k"}').rstrip(b"=").decode()
    assert not verifier.verify(parse_compact(f"{es_head}.{payload}.{signature}"))
    # RFC 9864's fully specified name for the same algorithm is accepted
    assert verifier.accepts_alg("Ed25519") and not verifier.accepts_alg("none")
