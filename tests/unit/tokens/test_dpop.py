"""DPoP proofs (RFC 9449 §4.3): each check, nonces, replay, thumbprints."""

from __future__ import annotations

from typing import Any

import pytest

from charter.domain.tokens.dpop import (
    DPoPError,
    NonceRequired,
    Nonces,
    ReplayCache,
    access_token_hash,
    check_proof,
    normalize_htu,
)
from charter.domain.tokens.jwk import Alg, generate_private_key, jwk_from_public_key, thumbprint
from charter.domain.tokens.jws import sign

NOW = 1_800_000_000
URL = "https://charter.test/oauth/token"
KEY = generate_private_key(Alg.ES256)
JWK = {
    k: v for k, v in jwk_from_public_key(KEY.public_key()).items() if k in ("kty", "crv", "x", "y")
}


def _proof(
    key: Any = KEY, jwk: dict[str, Any] | None = None, typ: str = "dpop+jwt", **claims: Any
) -> str:
    body = {"jti": "p-1", "htm": "POST", "htu": URL, "iat": NOW}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return sign(body, key, kid=None, typ=typ, extra_headers={"jwk": jwk or JWK})


def test_a_good_proof_yields_the_key_thumbprint_and_a_single_use_jti() -> None:
    proof = check_proof(_proof(), htm="POST", htu=[URL], now=NOW)
    assert proof.jkt == thumbprint(JWK)
    assert (proof.use.namespace, proof.use.issuer, proof.use.jti) == ("dpop", proof.jkt, "p-1")
    # htu is compared normalised: default port, case of scheme and host, no query
    assert (
        check_proof(
            _proof(htu="HTTPS://Charter.test:443/oauth/token?x=1"), htm="POST", htu=[URL], now=NOW
        ).jkt
        == proof.jkt
    )


@pytest.mark.parametrize(
    ("proof", "reason"),
    [
        (_proof(htm="GET"), "dpop_wrong_htm"),
        (_proof(htu="https://charter.test/oauth/introspect"), "dpop_wrong_htu"),
        (_proof(htu="https://evil.test/oauth/token"), "dpop_wrong_htu"),
        (_proof(iat=NOW - 3600), "dpop_stale"),
        (_proof(iat=NOW + 3600), "dpop_stale"),
        (_proof(jti=None), "dpop_malformed"),
        (_proof(typ="JWT"), "dpop_malformed"),
        (_proof(generate_private_key(Alg.ES256)), "dpop_bad_signature"),
        (_proof(jwk={**JWK, "d": "c2VjcmV0"}), "dpop_bad_key"),
        ("a.b.c", "dpop_malformed"),
    ],
)
def test_each_check_refuses_with_its_reason(proof: str, reason: str) -> None:
    with pytest.raises(DPoPError) as refused:
        check_proof(proof, htm="POST", htu=[URL], now=NOW)
    assert refused.value.reason == reason


def test_ath_binds_the_proof_to_the_access_token() -> None:
    token = "eyJ.token.value"
    good = _proof(ath=access_token_hash(token))
    assert check_proof(good, htm="POST", htu=[URL], now=NOW, access_token=token)
    for bad in (_proof(), _proof(ath=access_token_hash("another"))):
        with pytest.raises(DPoPError) as refused:
            check_proof(bad, htm="POST", htu=[URL], now=NOW, access_token=token)
        assert refused.value.reason == "dpop_wrong_ath"


def test_server_nonces_are_stateless_windowed_and_unforgeable() -> None:
    nonces = Nonces(b"k" * 32, window=300)
    nonce = nonces.issue(NOW)
    assert nonces.valid(nonce, NOW) and nonces.valid(nonce, NOW + 300)
    assert not nonces.valid(nonce, NOW + 900)
    assert not Nonces(b"x" * 32).valid(nonce, NOW)
    assert not nonces.valid("A" * 32, NOW) and not nonces.valid(None, NOW)
    assert check_proof(
        _proof(nonce=nonce), htm="POST", htu=[URL], now=NOW, nonces=nonces, require_nonce=True
    )
    for bad in (_proof(), _proof(nonce="stale")):
        with pytest.raises(NonceRequired):
            check_proof(bad, htm="POST", htu=[URL], now=NOW, nonces=nonces, require_nonce=True)


def test_the_replay_cache_accepts_a_jti_once() -> None:
    cache = ReplayCache()
    use = check_proof(_proof(), htm="POST", htu=[URL], now=NOW).use
    assert cache.consume(use, NOW)
    assert not cache.consume(use, NOW + 1)
    full = ReplayCache(max_entries=0)
    assert not full.consume(use, NOW)  # full: fail closed


def test_htu_normalisation() -> None:
    assert normalize_htu("HTTP://Example.COM:80/a?b#c") == "http://example.com/a"
    assert normalize_htu("https://example.com:8443") == "https://example.com:8443/"
