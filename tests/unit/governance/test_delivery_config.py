"""The ``delivery`` policy section (refused with the field named) and the webhook signature."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any

import pytest

from charter.domain.governance.channels import RetryPolicy
from charter.domain.governance.messages import Message, sign, signed_headers, verify
from charter.domain.governance.policy import parse_policy
from charter.errors import InvalidInput
from charter.services.governance.delivery_rows import next_digest

HOOK = {"type": "webhook", "url": "https://x.example/h", "secret": {"env": "S"}}


@pytest.mark.parametrize(
    ("delivery", "field", "words"),
    [
        (
            {"channels": {"m": {"type": "smtp", "host": "h", "sender": "x"}}},
            "delivery.channels.m.smtp.sender",
            "pattern",
        ),
        (
            {"channels": {"h": {**HOOK, "secret": "literal-secret"}}},
            "delivery.channels.h.webhook.secret",
            "",
        ),
        (
            {"channels": {"h": {"type": "webhook", "url": "https://x"}}},
            "delivery.channels.h.webhook.secret",
            "required",
        ),
        (
            {"channels": {"h": {**HOOK, "type": "carrier-pigeon"}}},
            "delivery.channels.h",
            "carrier-pigeon",
        ),
        (
            {
                "channels": {
                    "m": {"type": "smtp", "host": "h", "sender": "a@b.example", "username": "u"}
                }
            },
            "delivery.channels.m.smtp",
            "go together",
        ),
        (
            {"channels": {"h": HOOK}, "routes": [{"channel": "nope"}]},
            "delivery",
            "no channel named 'nope'",
        ),
        (
            {"channels": {"h": HOOK}, "routes": [{"channel": "h", "to": ["manager"]}]},
            "delivery",
            "team channel",
        ),
        (
            {
                "channels": {"g": {"type": "github", "repository": "a/b", "token": {"env": "T"}}},
                "routes": [{"channel": "g"}],
            },
            "delivery",
            "tasks only",
        ),
        (
            {"channels": {"h": HOOK}, "routes": [{"channel": "h", "items": ["memo"]}]},
            "delivery.routes[0].items[0]",
            "",
        ),
        ({"digest_at": "25:00"}, "delivery.digest_at", ""),
        ({"retry": {"attempts": 0}}, "delivery.retry.attempts", ""),
        ({"channels": {"Bad_Name": HOOK}}, "delivery", "Bad_Name"),
    ],
)
def test_malformed_delivery_is_refused_naming_the_field(
    delivery: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy({"delivery": delivery})
    assert caught.value.field is not None and caught.value.field.startswith(field), caught.value
    assert words in str(caught.value)


def test_a_good_section_parses_and_leaves_the_findings_digest_alone() -> None:
    policy = parse_policy(
        {
            "delivery": {
                "channels": {
                    "h": HOOK,
                    "m": {"type": "smtp", "host": "smtp.acme.example", "sender": "c@acme.example"},
                },
                "routes": [
                    {"channel": "m", "to": ["owner", "manager", "ops@acme.example"]},
                    {"channel": "h", "kinds": ["review.*"]},
                ],
            }
        }
    )
    assert policy.delivery.enabled
    assert policy.digest() == parse_policy({}).digest()  # delivery settings re-evaluate nothing
    route = policy.delivery.routes[1]
    assert route.matches("notice", "review.due") and not route.matches("notice", "expiry.warn")


def test_backoff_doubles_up_to_the_maximum() -> None:
    retry = RetryPolicy(attempts=10, base=30, max=3600)
    assert [retry.delay(n) for n in (1, 2, 3, 4, 8, 9)] == [30, 60, 120, 240, 3600, 3600]


def test_next_digest_is_today_or_tomorrow() -> None:
    morning = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
    assert next_digest(morning, 8 * 60) == dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    later = dt.datetime(2026, 11, 2, 8, 1, tzinfo=dt.UTC)
    assert next_digest(later, 8 * 60) == dt.datetime(2026, 11, 3, 8, 0, tzinfo=dt.UTC)


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_signature_is_the_standard_webhooks_one() -> None:
    body = b'{"a":1}'
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest())
    assert sign(SECRET, "msg_1", 1700000000, body) == "v1," + expected.decode()


def test_verify_refuses_forgery_tampering_and_replay() -> None:
    body = b'{"a":1}'
    headers = signed_headers(SECRET, "msg_1", 1700000000, body)
    verify(SECRET, headers, body, now=1700000100)
    with pytest.raises(ValueError, match="replay"):
        verify(SECRET, headers, body, now=1700000000 + 301)
    with pytest.raises(ValueError, match="no signature"):
        verify(SECRET, headers, body + b" ", now=1700000000)
    with pytest.raises(ValueError, match="no signature"):
        verify("whsec_" + base64.b64encode(b"other").decode(), headers, body, now=1700000000)
    with pytest.raises(ValueError, match="missing"):
        verify(SECRET, {k: v for k, v in headers.items() if k != "webhook-id"}, body, now=1)


def test_messages_escape_slack_markup() -> None:
    from charter.domain.governance.messages import slack_payload

    message = Message(
        "notice", "1", "k", "<!channel> & co", "b", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    assert slack_payload(message)["text"].startswith("*&lt;!channel&gt; &amp; co*")
