"""DPoP (RFC 9449): every refusal's code and words, the edges of each window, nonces, replay.

Written against surviving mutants of ``charter.domain.tokens.dpop``
(docs/mutation-testing.md): the boundaries of ``iat`` and ``jti``, a 32-character
nonce that is not base64, a nonce whose window was swapped, the nonce format
replicas share, and when the replay cache forgets a ``jti``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from types import SimpleNamespace
from typing import Any

import pytest

from charter.domain.tokens import dpop
from charter.domain.tokens.dpop import (
    CLOCK_SKEW,
    PROOF_MAX_AGE,
    DPoPError,
    NonceRequired,
    Nonces,
    ReplayCache,
    access_token_hash,
    check_proof,
    normalize_htu,
)
from charter.domain.tokens.jwk import Alg, b64url_encode, generate_private_key, jwk_from_public_key
from charter.domain.tokens.jws import sign
from charter.domain.tokens.one_time_use import OneTimeUse

NOW = 1_800_000_000
URL = "https://charter.test/oauth/token"
KEY = generate_private_key(Alg.ES256)
JWK = {
    k: v for k, v in jwk_from_public_key(KEY.public_key()).items() if k in ("kty", "crv", "x", "y")
}


def proof(
    *, typ: str | None = "dpop+jwt", headers: dict[str, Any] | None = None, **claims: Any
) -> str:
    body = {"jti": "p-1", "htm": "POST", "htu": URL, "iat": NOW, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    extra = {"jwk": JWK} if headers is None else headers
    return sign(body, KEY, kid=None, typ=typ, extra_headers=extra)


def refusal(token: str, **kwargs: Any) -> tuple[str, str]:
    options: dict[str, Any] = {"htm": "POST", "htu": [URL], "now": NOW, **kwargs}
    with pytest.raises(DPoPError) as refused:
        check_proof(token, **options)
    assert str(refused.value) == refused.value.message
    return refused.value.reason, refused.value.message


def test_each_refusal_has_its_code_and_words() -> None:
    assert refusal(proof(typ="JWT")) == ("dpop_malformed", "a DPoP proof has typ 'dpop+jwt'")
    assert refusal(proof(headers={})) == ("dpop_malformed", "the DPoP proof has no 'jwk' header")
    assert refusal(proof(jti="")) == ("dpop_malformed", "the DPoP proof needs a 'jti'")
    assert refusal(proof(iat="soon")) == ("dpop_malformed", "the DPoP proof needs an 'iat'")
    assert refusal(proof(iat=True)) == ("dpop_malformed", "the DPoP proof needs an 'iat'")
    assert refusal(proof(htm="GET")) == (
        "dpop_wrong_htm",
        "the DPoP proof is for 'GET', not POST",
    )
    assert refusal(proof(htu="https://evil.test/")) == (
        "dpop_wrong_htu",
        "the DPoP proof's htu 'https://evil.test/' is not this endpoint's URL",
    )
    assert refusal(proof(iat=NOW - 3600)) == (
        "dpop_stale",
        "the DPoP proof's iat is outside the accepted window",
    )
    assert refusal(proof(), access_token="tok") == (
        "dpop_wrong_ath",
        "the DPoP proof's 'ath' does not match the token",
    )
    claims = {"jti": "p", "htm": "POST", "htu": URL, "iat": NOW}
    stranger = generate_private_key(Alg.ES256)
    other = sign(claims, stranger, kid=None, typ="dpop+jwt", extra_headers={"jwk": JWK})
    assert refusal(other) == ("dpop_bad_signature", "the DPoP proof's signature does not verify")
    reason, message = refusal("a.b.c")
    assert reason == "dpop_malformed"
    assert message.startswith("the DPoP proof is unreadable: ")
    reason, message = refusal(proof(headers={"jwk": {**JWK, "d": "c2VjcmV0"}}))
    assert reason == "dpop_bad_key"
    assert message.startswith("the DPoP proof's jwk is not usable: ")


def test_an_unsupported_alg_is_refused_by_name() -> None:
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": JWK}
    token = (
        ".".join(b64url_encode(json.dumps(part).encode()) for part in (header, {"jti": "p"}))
        + ".c2ln"
    )
    assert refusal(token) == (
        "dpop_malformed",
        "DPoP proofs are signed with one of ('EdDSA', 'ES256', 'RS256')",
    )


def test_the_fully_specified_ed25519_alg_is_accepted() -> None:
    key = generate_private_key(Alg.EDDSA)
    jwk = {
        k: v for k, v in jwk_from_public_key(key.public_key()).items() if k in ("kty", "crv", "x")
    }
    header = {"typ": "dpop+jwt", "alg": "Ed25519", "jwk": jwk}
    claims = {"jti": "p-ed", "htm": "POST", "htu": URL, "iat": NOW}
    signing_input = ".".join(b64url_encode(json.dumps(p).encode()) for p in (header, claims))
    token = signing_input + "." + b64url_encode(key.sign(signing_input.encode()))  # type: ignore[union-attr]
    assert check_proof(token, htm="POST", htu=[URL], now=NOW).use.jti == "p-ed"


@pytest.mark.parametrize(
    ("iat", "accepted"),
    [
        (NOW + CLOCK_SKEW, True),
        (NOW + CLOCK_SKEW + 1, False),
        (NOW - PROOF_MAX_AGE, True),
        (NOW - PROOF_MAX_AGE - 1, False),
    ],
)
def test_the_iat_window_includes_both_edges(iat: int, accepted: bool) -> None:
    if accepted:
        assert check_proof(proof(iat=iat), htm="POST", htu=[URL], now=NOW).use.jti == "p-1"
    else:
        assert refusal(proof(iat=iat))[0] == "dpop_stale"


@pytest.mark.parametrize(("length", "accepted"), [(1, True), (256, True), (257, False)])
def test_the_jti_may_be_one_to_256_characters(length: int, accepted: bool) -> None:
    jti = "j" * length
    if accepted:
        assert check_proof(proof(jti=jti), htm="POST", htu=[URL], now=NOW).use.jti == jti
    else:
        assert refusal(proof(jti=jti))[0] == "dpop_malformed"


def test_a_missing_nonce_has_its_own_code() -> None:
    with pytest.raises(NonceRequired) as refused:
        check_proof(proof(), htm="POST", htu=[URL], now=NOW, require_nonce=True)
    assert refused.value.reason == "dpop_nonce_required"
    assert refused.value.message == "a fresh server nonce is required in the proof"


def test_the_access_token_hash_is_base64url_sha256() -> None:
    digest = hashlib.sha256(b"abc").digest()
    assert access_token_hash("abc") == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    with pytest.raises(UnicodeEncodeError):
        access_token_hash("é")


def test_a_relative_htu_keeps_an_empty_host() -> None:
    assert normalize_htu("/oauth/token") == "/oauth/token"


SECRET = b"k" * 32


def test_a_nonce_is_its_window_and_a_truncated_hmac_of_it() -> None:
    """Replicas of different versions must accept each other's nonces: the format is fixed."""
    window = NOW // 300
    mac = hmac.new(SECRET, window.to_bytes(8, "big"), hashlib.sha256).digest()[:16]
    assert Nonces(SECRET, window=300).issue(NOW) == b64url_encode(window.to_bytes(8, "big") + mac)


def test_a_nonce_with_another_window_is_refused() -> None:
    nonces = Nonces(SECRET, window=300)
    raw = base64.urlsafe_b64decode(nonces.issue(NOW) + "==")
    later = NOW + 300
    moved = b64url_encode((NOW // 300 + 1).to_bytes(8, "big") + raw[8:])
    assert nonces.valid(nonces.issue(later), later) is True
    assert nonces.valid(moved, later) is False


def test_a_nonce_that_is_not_base64_is_refused() -> None:
    assert Nonces(SECRET).valid("!" * 32, NOW) is False


def test_the_replay_cache_forgets_only_expired_jtis_and_only_every_ten_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(dpop, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    cache = ReplayCache()
    old = OneTimeUse("dpop", "k", "old", expires_at=50)
    edge = OneTimeUse("dpop", "k", "edge", expires_at=100)
    assert cache.consume(old, now=100) is True
    assert cache.consume(edge, now=100) is True
    clock[0] += 5  # no pruning yet: an expired jti is still a replay
    assert cache.consume(old, now=100) is False
    clock[0] += 5  # exactly ten seconds: still no pruning
    assert cache.consume(old, now=100) is False
    clock[0] += 0.5  # past ten seconds: the expired one goes, the one expiring now stays
    assert cache.consume(edge, now=100) is False
    assert cache.consume(old, now=100) is True
    clock[0] += 10.5  # pruning again works from the time of the last one
    assert cache.consume(OneTimeUse("dpop", "k", "x", expires_at=200), now=100) is True


def test_the_replay_cache_fails_closed_when_full() -> None:
    cache = ReplayCache(max_entries=1)
    assert cache.consume(OneTimeUse("dpop", "k", "a", 10**10), now=1) is True
    assert cache.consume(OneTimeUse("dpop", "k", "b", 10**10), now=1) is False


def test_a_proofs_jti_is_kept_until_the_proof_could_no_longer_be_accepted() -> None:
    accepted = check_proof(proof(iat=NOW - 10), htm="POST", htu=[URL], now=NOW)
    assert accepted.use.expires_at == NOW - 10 + PROOF_MAX_AGE + CLOCK_SKEW


def test_a_nonce_that_cannot_be_decoded_is_refused() -> None:
    assert Nonces(SECRET).valid("é" * 32, NOW) is False
