"""``looks_placeholder`` on RE2 says exactly what the Python ``re`` version said.

The reference below is the former implementation (three ``re`` searches, one with
a backreference, two case-insensitive); the fast one lower-cases once and runs two
RE2 automata. Any input on which they disagree is a dropped finding or a new false
positive, so they are compared on crafted shapes and on random tokens.
"""

from __future__ import annotations

import random
import re

import pytest

from charter.discovery.scan import checks
from charter.discovery.scan.checks import looks_placeholder

_WORDS = re.compile(
    rb"(?i)example|placeholder|your[_-]?(?:api|key|token|secret|pass)|changeme|redacted"
    rb"|dummy|insert[_-]|replace[_-]?me|xxxx|\*\*\*|\.\.\.|\xe2\x80\xa6|\\u2026|<[a-z_ -]+>"
    rb"|\$\{|\{\{|\{[A-Za-z_]*\}|%s|\$[A-Z_]{3,}"
)
_SEQUENCE = re.compile(
    (
        "(?i)"
        + "|".join(
            sorted(
                {re.escape(seq[i : i + 8]) for seq in checks.SEQUENCES for i in range(len(seq) - 7)}
            )
        )
    ).encode()
)
_REPEAT = re.compile(rb"(.)\1{5}", re.DOTALL)


def reference(token: bytes) -> bool:
    return bool(_WORDS.search(token) or _REPEAT.search(token) or _SEQUENCE.search(token))


CRAFTED = [
    b"sk-EXAMPLEkey",
    b"YOUR_API_KEY_HERE",
    b"Your-Token",
    b"ChangeMe123",
    b"<Your Key>",
    b"<YOUR_KEY>",
    b"${SLACK_TOKEN}",
    b"$SLACK",
    b"$Sl",
    b"$sla",
    b"{{ token }}",
    b"{Token}",
    b"{tok3n}",
    b"%s",
    b"%S",
    b"abc...def",
    b"sk-\xe2\x80\xa6abcd",
    b"sk-\xc2\x80\xa6abcd",
    b"sk-\\u2026abcd",
    b"sk-\\U2026abcd",
    b"aaaaaa",
    b"aAaAaA",
    b"AAAAAA",
    b"\xff\xff\xff\xff\xff\xff",
    b"\xe9\xe9\xe9\xc9\xc9\xc9",
    b"\n\n\n\n\n\n",
    b"Zq8abcdefghW2",
    b"Zq8ABCDEFGHW2",
    b"Zq8AbCdEfGhW2",
    b"78901234",
    b"hgfedcba",
    b"HGFEDCBA",
    b"10987654",
    b"Zq8xW2kP9",
    b"",
    b"xxx",
    b"XXXX",
    b"***",
    b"**",
]


@pytest.mark.parametrize("token", CRAFTED)
def test_crafted_shapes_agree(token: bytes) -> None:
    assert looks_placeholder(token) is reference(token)


def test_random_tokens_agree() -> None:
    rng = random.Random(7)
    alphabets = [
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        b"abcdefgh12345678ABCDEFGH",
        b"aA0$_{}<>.*%sS \\u",
        bytes(range(256)),
    ]
    positives = 0
    for _ in range(20_000):
        alphabet = rng.choice(alphabets)
        token = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        expected = reference(token)
        positives += expected
        assert looks_placeholder(token) is expected, token
    assert 100 < positives < 19_900  # both outcomes were exercised


def test_a_long_private_key_body_is_not_a_placeholder() -> None:
    rng = random.Random(3)
    body = bytes(rng.choice(checks.BASE62.encode()) for _ in range(3000))
    assert looks_placeholder(body) is reference(body)
