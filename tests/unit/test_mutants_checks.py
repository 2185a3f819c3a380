"""The scanner's credibility checks: what is a signed JWT, what is a checksum-valid token.

Written against surviving mutants of ``charter.discovery.scan.checks``
(docs/mutation-testing.md): a string with two or four dot-separated parts is not
a JWT, whatever its first parts decode to.
"""

from __future__ import annotations

import base64
import json

from charter.discovery.scan.checks import jwt_claims


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
