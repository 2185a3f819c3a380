"""DPoP: proof of possession at the application layer (RFC 9449).

A DPoP proof is a JWT the client signs with its own key for *one* HTTP
request: header ``typ: dpop+jwt`` and the public ``jwk``; claims ``jti``,
``htm`` (method), ``htu`` (URL without query and fragment), ``iat`` and, at a
resource, ``ath`` (hash of the access token). A token issued with a proof is
bound to that key by ``cnf.jkt`` (§6.1), so a stolen token is useless without
the key. The checks are §4.3's, in order; a ``jti`` is single-use (§11.1): at
the token endpoint through the ledger (every replica), at a resource through
an in-process :class:`ReplayCache` over the proof's short lifetime.

Nonces (§8) are stateless: an HMAC of a time window under a secret derived
from the master key, so every replica accepts every other's nonce and nothing
is stored. A nonce is valid in its window and the one after.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from charter.domain.tokens.jwk import b64url_encode, public_key_from_jwk, thumbprint
from charter.domain.tokens.jws import JoseError, VerificationKey, parse_compact
from charter.domain.tokens.one_time_use import OneTimeUse
from charter.errors import InvalidInput

DPOP_TYP = "dpop+jwt"
PROOF_MAX_AGE = 300
CLOCK_SKEW = 30
JTI_NAMESPACE = "dpop"
NONCE_WINDOW = 300
SIGNING_ALGS = ("EdDSA", "ES256", "RS256")


class DPoPError(Exception):
    """A proof that cannot be accepted; ``reason`` is a stable code (``dpop_*``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class NonceRequired(DPoPError):
    """The proof lacks a current server nonce (RFC 9449 §8: ``use_dpop_nonce``)."""


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A proof that passed every check; ``use`` is its ``jti`` to consume."""

    jkt: str
    use: OneTimeUse


def normalize_htu(url: str) -> str:
    """Scheme and host lower-cased, default port dropped, no query or fragment (§4.3 step 9)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def access_token_hash(token: str) -> str:
    """``ath``: base64url SHA-256 of the ASCII access token (§4.2)."""
    return b64url_encode(hashlib.sha256(token.encode("ascii")).digest())


class Nonces:
    """Stateless server nonces: ``window || HMAC(secret, window)``, base64url."""

    def __init__(self, secret: bytes, window: int = NONCE_WINDOW) -> None:
        self._secret = secret
        self._window = window

    def _mac(self, window: int) -> bytes:
        return hmac.new(self._secret, window.to_bytes(8, "big"), hashlib.sha256).digest()[:16]

    def issue(self, now: float) -> str:
        window = int(now // self._window)
        return b64url_encode(window.to_bytes(8, "big") + self._mac(window))

    def valid(self, nonce: object, now: float) -> bool:
        if not isinstance(nonce, str) or len(nonce) != 32:
            return False
        try:
            raw = base64.urlsafe_b64decode(nonce + "==")
        except ValueError:
            return False
        window = int.from_bytes(raw[:8], "big")
        current = int(now // self._window)
        return window in (current, current - 1) and hmac.compare_digest(raw[8:], self._mac(window))


def check_proof(
    proof: str,
    *,
    htm: str,
    htu: Collection[str],
    now: float,
    access_token: str | None = None,
    nonces: Nonces | None = None,
    require_nonce: bool = False,
) -> DPoPProof:
    """Run RFC 9449 §4.3's checks (all but replay, which the caller records)."""
    try:
        compact = parse_compact(proof)
    except JoseError as exc:
        raise DPoPError("dpop_malformed", f"the DPoP proof is unreadable: {exc.message}") from exc
    header = compact.header
    if header.get("typ") != DPOP_TYP:
        raise DPoPError("dpop_malformed", "a DPoP proof has typ 'dpop+jwt'")
    if header.get("alg") not in (*SIGNING_ALGS, "Ed25519"):
        raise DPoPError("dpop_malformed", f"DPoP proofs are signed with one of {SIGNING_ALGS}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise DPoPError("dpop_malformed", "the DPoP proof has no 'jwk' header")
    try:
        public, _ = public_key_from_jwk(jwk)
        jkt = thumbprint(jwk)
    except InvalidInput as exc:
        raise DPoPError(
            "dpop_bad_key", f"the DPoP proof's jwk is not usable: {exc.message}"
        ) from exc
    if not VerificationKey.of(public, jkt).verify(compact):
        raise DPoPError("dpop_bad_signature", "the DPoP proof's signature does not verify")
    claims = compact.claims
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 256:
        raise DPoPError("dpop_malformed", "the DPoP proof needs a 'jti'")
    if claims.get("htm") != htm:
        raise DPoPError("dpop_wrong_htm", f"the DPoP proof is for {claims.get('htm')!r}, not {htm}")
    claimed = claims.get("htu")
    expected = {normalize_htu(u) for u in htu}
    if not isinstance(claimed, str) or normalize_htu(claimed) not in expected:
        raise DPoPError(
            "dpop_wrong_htu", f"the DPoP proof's htu {claimed!r} is not this endpoint's URL"
        )
    issued = claims.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, int | float):
        raise DPoPError("dpop_malformed", "the DPoP proof needs an 'iat'")
    if issued > now + CLOCK_SKEW or issued < now - PROOF_MAX_AGE:
        raise DPoPError("dpop_stale", "the DPoP proof's iat is outside the accepted window")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath, access_token_hash(access_token)
        ):
            raise DPoPError("dpop_wrong_ath", "the DPoP proof's 'ath' does not match the token")
    if require_nonce and (nonces is None or not nonces.valid(claims.get("nonce"), now)):
        raise NonceRequired("dpop_nonce_required", "a fresh server nonce is required in the proof")
    use = OneTimeUse(JTI_NAMESPACE, jkt, jti, int(issued) + PROOF_MAX_AGE + CLOCK_SKEW)
    return DPoPProof(jkt, use)


class ReplayCache:
    """Single-use ``jti``s in memory for as long as their proofs could be accepted."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._seen: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self._last_prune = time.monotonic()

    def consume(self, use: OneTimeUse, now: float) -> bool:
        """True the first time ``use`` is seen; False for a replay (or when full: fail closed)."""
        with self._lock:
            if time.monotonic() - self._last_prune > 10:
                self._seen = {k: exp for k, exp in self._seen.items() if exp >= now}
                self._last_prune = time.monotonic()
            if use.key in self._seen or len(self._seen) >= self._max:
                return False
            self._seen[use.key] = use.expires_at
            return True
