"""JSON Web Keys (RFC 7517) and their thumbprints (RFC 7638).

Keys cross the wire as public JWKs: an agent's key at enrolment, a DPoP proof's
``jwk`` header, our signing keys in ``/.well-known/jwks.json``, an identity
provider's JWKS. Only the key types Charter speaks are accepted — Ed25519
(``OKP``), P-256 (``EC``) and, for signing keys and foreign issuers, RSA of at
least 2048 bits — and a JWK carrying private members is refused: a private key
must never be sent, and accepting one would teach clients to send them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from charter.errors import InvalidInput

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MIN_RSA_BITS = 2048


class Alg(StrEnum):
    """JWS algorithms Charter signs and verifies (RFC 7518 §3.1, RFC 8037 §3.1)."""

    EDDSA = "EdDSA"
    ES256 = "ES256"
    RS256 = "RS256"


#: Algorithms an agent may hold (its enrolment key and its DPoP key).
AGENT_ALGS = (Alg.EDDSA, Alg.ES256)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, field: str = "jwk") -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{field} is not base64url", field=field) from exc


def _int_member(jwk: Mapping[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"the JWK lacks '{name}'", field=f"jwk.{name}")
    return int.from_bytes(b64url_decode(value, field=f"jwk.{name}"), "big")


def alg_for_key(key: PublicKey | PrivateKey) -> Alg:
    """The one JWS algorithm a key is used with (no algorithm confusion: one key, one alg)."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return Alg.EDDSA
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidInput(f"EC keys must be P-256, not {key.curve.name}", field="key")
        return Alg.ES256
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidInput(f"RSA keys need at least {MIN_RSA_BITS} bits", field="key")
        return Alg.RS256
    raise InvalidInput("unsupported key type: use Ed25519, P-256 or RSA", field="key")


def public_key_from_jwk(jwk: Mapping[str, Any]) -> tuple[PublicKey, Alg]:
    """Parse a *public* JWK; refuse private members, unknown types and a mismatched ``alg``."""
    if not isinstance(jwk, Mapping):
        raise InvalidInput("a JWK is a JSON object", field="jwk")
    if PRIVATE_MEMBERS.intersection(jwk):
        raise InvalidInput(
            "the JWK contains private key material; send the public key only", field="jwk"
        )
    kty = jwk.get("kty")
    key: PublicKey
    try:
        if kty == "OKP":
            if jwk.get("crv") != "Ed25519":
                raise InvalidInput("OKP keys must use crv 'Ed25519'", field="jwk.crv")
            raw = b64url_decode(str(jwk.get("x", "")), field="jwk.x")
            key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        elif kty == "EC":
            if jwk.get("crv") != "P-256":
                raise InvalidInput("EC keys must use crv 'P-256'", field="jwk.crv")
            numbers = ec.EllipticCurvePublicNumbers(
                _int_member(jwk, "x"), _int_member(jwk, "y"), ec.SECP256R1()
            )
            key = numbers.public_key()
        elif kty == "RSA":
            key = rsa.RSAPublicNumbers(_int_member(jwk, "e"), _int_member(jwk, "n")).public_key()
        else:
            raise InvalidInput(f"unsupported JWK kty {kty!r}", field="jwk.kty")
    except ValueError as exc:  # not a point on the curve, wrong length…
        raise InvalidInput(f"the JWK is not a valid public key: {exc}", field="jwk") from exc
    alg = alg_for_key(key)
    declared = jwk.get("alg")
    if (
        declared is not None
        and declared != alg.value
        and not (
            declared == "Ed25519" and alg == Alg.EDDSA  # RFC 9864's fully specified name
        )
    ):
        raise InvalidInput(
            f"the JWK says alg {declared!r} but the key is for {alg}", field="jwk.alg"
        )
    return key, alg


def _uint(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def jwk_from_public_key(key: PublicKey, *, kid: str | None = None) -> dict[str, str]:
    """The public JWK of ``key`` with ``alg`` (and ``kid`` when given) and ``use: sig``."""
    alg = alg_for_key(key)
    jwk: dict[str, str]
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    elif isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    else:
        rsa_numbers = key.public_numbers()
        jwk = {"kty": "RSA", "e": _uint(rsa_numbers.e), "n": _uint(rsa_numbers.n)}
    jwk["alg"] = alg.value
    jwk["use"] = "sig"
    jwk["kid"] = kid or thumbprint(jwk)
    return jwk


#: RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 JWK thumbprint, base64url (also DPoP's ``jkt``, RFC 9449 §6.1)."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise InvalidInput(f"unsupported JWK kty {jwk.get('kty')!r}", field="jwk.kty")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def generate_private_key(alg: Alg) -> PrivateKey:
    if alg == Alg.EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    if alg == Alg.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the file is protected by its 0600 permissions."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def checked_private_key(key: object, *, field: str = "key") -> PrivateKey:
    """``key`` if it is an Ed25519, P-256 or RSA (>= 2048 bit) private key."""
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise InvalidInput("unsupported key type: use Ed25519 or P-256", field=field)
    alg_for_key(key)
    return key


def load_private_key_pem(data: bytes, *, field: str = "key") -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"not an unencrypted PEM private key: {exc}", field=field) from exc
    return checked_private_key(key, field=field)


def load_public_key(data: bytes, *, field: str = "public_key") -> tuple[PublicKey, Alg]:
    """A public key from PEM (SPKI), or from a JWK in JSON."""
    text = data.strip()
    if text.startswith(b"{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"not JSON: {exc}", field=field) from exc
        return public_key_from_jwk(document)
    try:
        key = serialization.load_pem_public_key(text)
    except ValueError as exc:
        raise InvalidInput(f"not a PEM public key or a JWK: {exc}", field=field) from exc
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise InvalidInput("unsupported key type: use Ed25519 or P-256", field=field)
    return key, alg_for_key(key)
