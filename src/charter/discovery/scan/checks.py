"""Checks that turn a regex match into a believable secret.

A pattern finds strings *shaped* like a key; these functions reject what only
looks like one: documented example keys, placeholders (``xxxx``, ``<your key>``,
``${VAR}``), low-entropy runs, and tokens whose provider-defined checksum does
not verify (GitHub and npm: a base62 CRC32 of the random part).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import zlib
from collections import Counter
from typing import Any

import re2

#: Base62 alphabet in the order GitHub's token checksum uses (digits, upper, lower).
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

#: SHA-256 of example credentials that providers publish in their documentation.
#: Stored as fingerprints so this file itself contains no key-shaped strings.
DOCUMENTED_EXAMPLES: frozenset[str] = frozenset(
    {
        # AWS IAM docs: the example secret access key paired with AKIAIOSFODNN7EXAMPLE.
        hashlib.sha256(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").hexdigest(),
        # jwt.io's default example token (HS256, "John Doe").
        "7f75367e7881255134e1375e723d1dea8ad5f6a4fdb79d938df1f1754a830606",
        # Stripe API reference: the two test-mode secret keys shown in its examples.
        "2cafc0970149a84f3b9e62eaf169f36f59907a3b3e31f7b82e68c69cd27f7326",
        "f2d6ca16515033e5dce14eba840b979d27b5cbae24bb3e5bf484339667f86397",
        # Slack API docs: the bot token used in its token-types page.
        "2ddc147f3a3b5a1722b8ed6be3c45c49a7156b17fca5d11410137a6d04def6eb",
    }
)

#: ``\xe2\x80\xa6`` is "…" in UTF-8 (``\u2026`` in ASCII-only JSON): the ellipsis of a
#: redacted preview (``sk-…abcd``, Charter's own in reports and in the store) is never
#: part of a real secret. Written in lower case: it runs on ``token.lower()``, which is
#: what ``(?i)`` means for bytes (ASCII letters only).
PLACEHOLDER_WORDS = (
    rb"example|placeholder|your[_-]?(?:api|key|token|secret|pass)|changeme|redacted"
    rb"|dummy|insert[_-]|replace[_-]?me|xxxx|\*\*\*|\.\.\.|\xe2\x80\xa6|\\u2026|<[a-z_ -]+>"
    rb"|\$\{|\{\{|\{[a-z_]*\}|%s|\$[a-z_]{3,}"
)
SEQUENCES = (
    "0123456789012345",
    "abcdefghijklmnopqrstuvwxyz",
    "zyxwvutsrqponmlkjihgfedcba",
    "9876543210987654",
)
#: Eight characters of a keyboard or alphabet run, in any case: "abcdefgh", "12345678".
SEQUENCE_RUN = b"|".join(
    sorted({re.escape(seq[i : i + 8]).encode() for seq in SEQUENCES for i in range(len(seq) - 7)})
)
#: One byte six times in a row (``(.)\1{5}``, spelled out: RE2 has no backreferences).
REPEAT_RUN = b"|".join(b"\\x%02x{6}" % byte for byte in range(256))


def _re2(pattern: bytes) -> Any:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1  # bytes in, any byte valid
    return re2.compile(pattern, options)


# RE2 runs these in linear time, one pass for all alternatives: a 2 KB private key
# costs microseconds, where Python ``re`` tried each alternative at each offset.
_LOWER_SHAPES = _re2(PLACEHOLDER_WORDS + b"|" + SEQUENCE_RUN)
_REPEATS = _re2(REPEAT_RUN)


def sha256_hex(data: bytes) -> str:
    """The fingerprint every credential is stored and shown as."""
    return hashlib.sha256(data).hexdigest()


def shannon_entropy(data: bytes) -> float:
    """Bits per symbol; random base62 is ~5.9, English words ~3, ``aaaa`` 0."""
    if not data:
        return 0.0
    total = len(data)
    return -sum(n / total * math.log2(n / total) for n in Counter(data).values())


def looks_placeholder(token: bytes) -> bool:
    """True for documentation and template values that are not real secrets.

    Random tokens essentially never contain these shapes (a run of six equal
    characters in 40 base62 characters has odds near 1e-8), so rejecting them
    costs no recall and removes most false positives in docs and samples.
    """
    return _LOWER_SHAPES.search(token.lower()) is not None or _REPEATS.search(token) is not None


def is_documented_example(secret: bytes) -> bool:
    return sha256_hex(secret) in DOCUMENTED_EXAMPLES


def base62_encode(number: int, width: int = 6) -> str:
    digits = ""
    while number:
        number, remainder = divmod(number, 62)
        digits = BASE62[remainder] + digits
    return digits.rjust(width, "0")


def crc32_base62_ok(token: bytes, prefix_len: int, random_len: int = 30) -> bool:
    """GitHub's and npm's new-format tokens end in a base62 CRC32 of their random part.

    ``ghp_`` + 30 random base62 characters + 6 checksum characters
    (github.blog, "Behind GitHub's new authentication token formats", 2021).
    """
    body = token[prefix_len:]
    if len(body) != random_len + 6:
        return False
    random_part, checksum = body[:random_len], body[random_len:]
    return base62_encode(zlib.crc32(random_part)) == checksum.decode("ascii", "replace")


def _b64url_json(segment: bytes) -> object:
    padded = segment + b"=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def jwt_claims(token: bytes) -> dict[str, object] | None:
    """The payload of a well-formed signed JWT, or None when it is not one.

    A JWT is a credential only if its header is JSON naming a real ``alg``
    (``none`` tokens authenticate nothing) and its payload is a JSON object.
    """
    parts = token.split(b".")
    if len(parts) != 3 or not parts[2]:
        return None
    try:
        header = _b64url_json(parts[0])
        payload = _b64url_json(parts[1])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        return None
    return payload
