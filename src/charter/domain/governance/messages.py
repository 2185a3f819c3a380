"""What a delivered notice or task looks like on each channel, and the webhook signature.

Pure: payloads are built here, sent by :mod:`charter.services.governance.transports`.

Webhook signatures follow Standard Webhooks (https://www.standardwebhooks.com/):
three headers, ``webhook-id`` (the same on every retry of one message, so a
receiver can drop duplicates), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
A ``whsec_``-prefixed secret is base64 after the prefix (the scheme's own form);
any other secret is used as its UTF-8 bytes. :func:`verify` is the receiver's
side, with the replay window.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

SIGNATURE_VERSION = "v1"
#: how far a webhook's timestamp may be from the receiver's clock (seconds)
REPLAY_WINDOW = 300


@dataclass(frozen=True, slots=True)
class Message:
    """One notice or task, as it is told to people."""

    item_type: str
    item_id: str
    kind: str
    subject: str
    body: str
    created_at: dt.datetime
    agent: str | None = None
    recipient: str | None = None
    steps: tuple[str, ...] = ()
    link: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        lines = [self.body] if self.body else []
        lines += [f"- {step}" for step in self.steps]
        if self.link:
            lines.append(self.link)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.item_type,
            "id": self.item_id,
            "kind": self.kind,
            "subject": self.subject,
            "body": self.body,
            "agent": self.agent,
            "recipient": self.recipient,
            "steps": list(self.steps),
            "link": self.link,
            "created_at": self.created_at.isoformat(),
        }


def digest(messages: Sequence[Message], *, day: dt.date) -> Message:
    """Several messages to one address as one: the daily digest."""
    parts = []
    for m in messages:
        parts.append(f"* {m.subject}\n{m.text()}".rstrip())
    return Message(
        item_type="digest",
        item_id=f"{day.isoformat()}:{len(messages)}",
        kind="digest",
        subject=f"Charter: {len(messages)} item(s) for {day.isoformat()}",
        body="\n\n".join(parts),
        created_at=messages[-1].created_at if messages else dt.datetime.now(dt.UTC),
    )


def email(message: Message, *, sender: str, to: str, message_id: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = message.subject.replace("\n", " ")[:200]
    mail["Message-ID"] = message_id
    mail["X-Charter-Item"] = f"{message.item_type}:{message.item_id}"
    mail.set_content(message.text() + "\n")
    return mail


def slack_payload(message: Message) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` in mrkdwn (the fallback and the message)."""
    return {"text": f"*{_slack_escape(message.subject)}*\n{_slack_escape(message.text())}"}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def teams_payload(message: Message) -> dict[str, Any]:
    """A Teams incoming-webhook body: one Adaptive Card (schema 1.4)."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "wrap": True},
        {"type": "TextBlock", "text": message.body, "wrap": True},
    ]
    body += [{"type": "TextBlock", "text": f"- {step}", "wrap": True} for step in message.steps]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": message.link}]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def webhook_body(message: Message) -> bytes:
    event = {"type": f"charter.{message.item_type}", "data": message.to_dict()}
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def issue_text(message: Message) -> tuple[str, str]:
    """An issue's title and body (Markdown) for a task."""
    lines = [message.body] if message.body else []
    if message.steps:
        lines += ["", "Steps:", *(f"- [ ] {s}" for s in message.steps)]
    lines += ["", f"Charter task `{message.item_id}`; closing this issue closes the task."]
    return message.subject[:250], "\n".join(lines)


# -- signatures -------------------------------------------------------------------------------
def signing_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest_bytes = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest_bytes).decode()}"


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    window: int = REPLAY_WINDOW,
) -> None:
    """Raise ValueError unless ``body`` was signed with ``secret`` within ``window`` seconds."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not message_id or not stamp.isdigit() or not signatures:
        raise ValueError("missing webhook-id, webhook-timestamp or webhook-signature")
    if abs(now - int(stamp)) > window:
        raise ValueError("timestamp outside the replay window")
    expected = sign(secret, message_id, int(stamp), body)
    if not any(hmac.compare_digest(expected, s) for s in signatures.split()):
        raise ValueError("no signature matches")
