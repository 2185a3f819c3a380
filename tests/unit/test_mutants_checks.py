"""The scanner's credibility checks: what is a signed JWT, what is a checksum-valid token.

Written against surviving mutants of ``charter.discovery.scan.checks``
(docs/mutation-testing.md): a string with two or four dot-separated parts is not
a JWT, whatever its first parts decode to; a checksum is compared exactly.
"""

from __future__ import annotations

import base64
import json
import zlib

from charter.discovery.scan.checks import (
    base62_encode,
    crc32_base62_ok,
    jwt_claims,
    looks_placeholder,
    shannon_entropy,
)


def segment(value: object) -> bytes:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")


HEADER = segment({"alg": "HS256", "typ": "JWT"})
PAYLOAD = segment({"sub": "svc"})


def test_three_parts_with_a_signature_are_a_jwt() -> None:
    assert jwt_claims(HEADER + b"." + PAYLOAD + b".c2ln") == {"sub": "svc"}


def test_two_or_four_parts_are_not_a_jwt() -> None:
    assert jwt_claims(HEADER + b"." + PAYLOAD) is None
    assert jwt_claims(HEADER + b"." + PAYLOAD + b".c2ln.extra") is None
    assert jwt_claims(HEADER + b"." + PAYLOAD + b".") is None


def test_a_payload_that_is_not_an_object_is_not_a_jwt() -> None:
    assert jwt_claims(HEADER + b"." + segment(["sub"]) + b".c2ln") is None
    assert jwt_claims(segment(["alg"]) + b"." + PAYLOAD + b".c2ln") is None


def test_base62_pads_on_the_left() -> None:
    assert base62_encode(0) == "000000"
    assert base62_encode(61) == "00000z"
    assert base62_encode(62) == "000010"


def test_the_crc32_check_needs_the_exact_length_and_tolerates_non_ascii() -> None:
    random_part = b"A" * 30
    good = b"ghp_" + random_part + base62_encode(zlib.crc32(random_part)).encode()
    assert crc32_base62_ok(good, 4) is True
    assert crc32_base62_ok(good[:-1], 4) is False
    assert crc32_base62_ok(good + b"0", 4) is False
    assert crc32_base62_ok(b"ghp_" + random_part + "é".encode() + b"0000", 4) is False


def test_any_one_placeholder_shape_is_enough() -> None:
    assert looks_placeholder(b"Zq8abcdefghW2") is True  # a run of the alphabet only
    assert looks_placeholder(b"Zq8aaaaaaW2") is True  # a repeated character only
    assert looks_placeholder(b"Zq8xW2kP9") is False


def test_shannon_entropy_in_bits_per_symbol() -> None:
    assert shannon_entropy(b"") == 0.0
    assert shannon_entropy(b"ab") == 1.0
    assert shannon_entropy(b"abcd") == 2.0
    assert abs(shannon_entropy(b"aaab") - 0.8112781244591328) < 1e-12
