"""Compact JWS (RFC 7515 §7.1): a lean verifier and a lean signer, and PyJWT for the rest.

Verification is the hot path of every gateway and decision that takes a
token, so it is written against ``cryptography`` directly: split, decode, one
signature check with a pre-built key object, ``orjson.loads``. Nothing here
trusts the header to choose an algorithm: the *key* fixes the algorithm
(RFC 8725 §3.1), and a header naming another one is refused. ``none`` and
MAC algorithms do not exist here. ``crit`` is refused (RFC 7515 §4.1.11:
we understand no extensions).

Access tokens are signed by :class:`Signer` (the header is encoded once per
key; only the payload and the signature are new per token). Everything else —
client assertions and DPoP proofs in the SDK, tokens in tests — is signed with
PyJWT, so our verifier is exercised by an implementation that is not ours, and
the tests verify what we issue with a third library (joserfc).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import jwt as pyjwt
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from charter.domain.tokens.jwk import Alg, PrivateKey, PublicKey, alg_for_key

MAX_TOKEN_LENGTH = 16 * 1024
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_SHA256 = hashes.SHA256()
_PKCS1 = padding.PKCS1v15()


class JoseError(Exception):
    """A JWS that cannot be accepted; ``reason`` is a stable code for callers to map."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64(segment: str) -> bytes:
    """base64url without padding (RFC 7515 §2); over-padding is harmless to ``a2b_base64``."""
    return binascii.a2b_base64(segment.encode("ascii").translate(_URLSAFE) + b"==")


class Compact(NamedTuple):
    """A parsed, *unverified* compact JWS (a tuple: built on every verification, so cheap)."""

    header: Mapping[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def alg(self) -> str:
        return str(self.header.get("alg"))


@lru_cache(maxsize=4096)
def _header(segment: str) -> Mapping[str, Any]:
    """Decode a header segment; cached, as every token from one key shares its header."""
    try:
        header = json.loads(_b64(segment))
    except (ValueError, binascii.Error) as exc:
        raise JoseError("malformed", "the JWS header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise JoseError("malformed", "the JWS header is not a JSON object")
    if "crit" in header:
        raise JoseError("malformed", "the JWS uses 'crit' extensions, which are not supported")
    if not isinstance(header.get("alg"), str):
        raise JoseError("malformed", "the JWS header has no 'alg'")
    return header


#: base64url characters that can end a canonical encoding of n bytes, by n % 3
_CANONICAL_TAIL = ("", "AQgw", "AEIMQUYcgkosw048")


def split_compact(token: str) -> tuple[Mapping[str, Any], bytes, bytes, str]:
    """``(header, signing_input, signature, payload_segment)`` — everything but the claims.

    Verifiers check the signature before they spend anything on the payload. The
    header and payload need no character check of their own: they are the
    signing input, so any change to them fails the signature. The signature
    segment must be the one canonical base64url spelling of its bytes, so a
    token has exactly one valid text (what the verified-token cache keys on).
    """
    if type(token) is not str or len(token) > MAX_TOKEN_LENGTH:
        raise JoseError("malformed", "the token is not a compact JWS of a sensible size")
    parts = token.split(".")
    if len(parts) != 3 or not (parts[0] and parts[1] and parts[2]):
        raise JoseError("malformed", "the token is not three base64url segments")
    head, payload, signature = parts
    header = _header(head)
    try:
        raw_signature = _b64(signature)
        signing_input = token[: len(head) + 1 + len(payload)].encode("ascii")
    except (ValueError, binascii.Error) as exc:
        raise JoseError("malformed", "the token is not base64url ASCII") from exc
    size = len(raw_signature)
    if (
        len(signature) != (size * 4 + 2) // 3
        or (size % 3 and signature[-1] not in _CANONICAL_TAIL[size % 3])
        or "+" in signature
        or "/" in signature
    ):
        raise JoseError("bad_signature", "the signature is not canonical base64url")
    return header, signing_input, raw_signature, payload


def decode_claims(payload: str) -> dict[str, Any]:
    try:
        claims = orjson.loads(_b64(payload))
    except (ValueError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise JoseError("malformed", "the JWS payload is not base64url JSON") from exc
    if type(claims) is not dict:
        raise JoseError("malformed", "the JWT claims are not a JSON object")
    return claims


def parse_compact(token: str) -> Compact:
    """Split and decode a compact JWS without verifying it (callers then pick the key)."""
    header, signing_input, signature, payload = split_compact(token)
    return Compact(header, decode_claims(payload), signing_input, signature)


SignatureCheck = Callable[[bytes, bytes], bool]


def signature_check(key: PublicKey, alg: Alg) -> SignatureCheck:
    """A function ``(signature, signing_input) -> bool`` for one key and its one algorithm."""
    if alg != alg_for_key(key):
        raise ValueError(f"key is not a {alg} key")
    if isinstance(key, ed25519.Ed25519PublicKey):
        verify_ed = key.verify

        def check_eddsa(signature: bytes, message: bytes) -> bool:
            try:
                verify_ed(signature, message)
            except InvalidSignature:
                return False
            return True

        return check_eddsa
    if isinstance(key, ec.EllipticCurvePublicKey):
        verify_ec = key.verify
        from_bytes = int.from_bytes

        def check_es256(signature: bytes, message: bytes) -> bool:
            if len(signature) != 64:  # RFC 7518 §3.4: R || S, 32 octets each
                return False
            der = encode_dss_signature(from_bytes(signature[:32]), from_bytes(signature[32:]))
            try:
                verify_ec(der, message, _ECDSA_SHA256)
            except InvalidSignature:
                return False
            return True

        return check_es256
    assert isinstance(key, rsa.RSAPublicKey)
    verify_rsa = key.verify

    def check_rs256(signature: bytes, message: bytes) -> bool:
        try:
            verify_rsa(signature, message, _PKCS1, _SHA256)
        except InvalidSignature:
            return False
        return True

    return check_rs256


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key bound to its one algorithm and its ``kid``."""

    kid: str
    alg: Alg
    key: PublicKey
    check: SignatureCheck

    @classmethod
    def of(cls, key: PublicKey, kid: str) -> VerificationKey:
        alg = alg_for_key(key)
        return cls(kid, alg, key, signature_check(key, alg))

    def accepts_alg(self, alg: str) -> bool:
        return alg == self.alg or (alg == "Ed25519" and self.alg == Alg.EDDSA)

    def verify(self, compact: Compact) -> bool:
        """True when ``compact`` names this key's algorithm and its signature verifies."""
        return self.accepts_alg(compact.alg) and self.check(
            compact.signature, compact.signing_input
        )


class Signer:
    """Signs many JWTs with one key under one header (the header segment is encoded once).

    The token endpoint's hot path: PyJWT rebuilds and re-encodes the header and
    dispatches on the algorithm for every token; this does only the payload and
    the signature. Output is the same compact JWS (joserfc verifies it in tests).
    """

    def __init__(self, key: PrivateKey, *, kid: str, typ: str) -> None:
        alg = alg_for_key(key)
        header = json.dumps({"alg": alg.value, "kid": kid, "typ": typ}, separators=(",", ":"))
        self.kid = kid
        self._head = base64.urlsafe_b64encode(header.encode()).rstrip(b"=") + b"."
        self._raw: Callable[[bytes], bytes]
        if isinstance(key, ed25519.Ed25519PrivateKey):
            sign_ed = key.sign

            def eddsa(message: bytes) -> bytes:
                return sign_ed(message)

            self._raw = eddsa
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            sign_ec = key.sign

            def es256(message: bytes) -> bytes:  # RFC 7518 §3.4: R || S, 32 octets each
                r, s = decode_dss_signature(sign_ec(message, _ECDSA_SHA256))
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")

            self._raw = es256
        else:
            sign_rsa = key.sign

            def rs256(message: bytes) -> bytes:
                return sign_rsa(message, _PKCS1, _SHA256)

            self._raw = rs256

    def sign(self, claims: Mapping[str, Any]) -> str:
        payload = orjson.dumps(claims)
        signing_input = self._head + base64.urlsafe_b64encode(payload).rstrip(b"=")
        signature = base64.urlsafe_b64encode(self._raw(signing_input)).rstrip(b"=")
        return (signing_input + b"." + signature).decode("ascii")


def sign(
    claims: Mapping[str, Any],
    key: PrivateKey,
    *,
    kid: str | None,
    typ: str | None = "JWT",
    extra_headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``claims`` as a compact JWS with ``key``'s one algorithm (PyJWT does the encoding).

    For assertions, proofs and tests; the token endpoint signs with :class:`Signer`.
    """
    headers: dict[str, Any] = dict(extra_headers or {})
    if kid is not None:
        headers["kid"] = kid
    if typ is not None:
        headers["typ"] = typ
    return pyjwt.encode(dict(claims), key, algorithm=alg_for_key(key).value, headers=headers)
