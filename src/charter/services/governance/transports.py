"""Sending one message on one channel: SMTP, Slack, Teams, a signed webhook, GitHub, Jira.

Each transport either returns (the message is out; issue channels return the
issue's reference) or raises :class:`ChannelError` with a reason a person can
act on — refused, timed out, an answer that is not what the API documents.
Nothing here touches the store: :mod:`.delivery` records the outcome.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import httpx

from charter.domain.governance.channels import (
    Channel,
    GithubChannel,
    JiraChannel,
    SlackChannel,
    SmtpChannel,
    TeamsChannel,
    WebhookChannel,
)
from charter.domain.governance.messages import (
    Message,
    email,
    issue_text,
    signed_headers,
    slack_payload,
    teams_payload,
    webhook_body,
)
from charter.services.governance.channel_secrets import ChannelSecrets


class ChannelError(Exception):
    """The channel did not take the message; ``str()`` is the reason (no secrets in it)."""


class Transport(Protocol):
    def send(self, message: Message, *, address: str, message_id: str) -> str | None: ...


@runtime_checkable
class IssueTracker(Transport, Protocol):
    def is_closed(self, reference: str) -> bool: ...


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _post(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.post(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise ChannelError(f"timed out after {client.timeout.read}s") from exc
    except httpx.HTTPError as exc:
        raise ChannelError(f"refused: {type(exc).__name__}: {_short(str(exc))}") from exc


def _get(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.get(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise ChannelError(f"timed out after {client.timeout.read}s") from exc
    except httpx.HTTPError as exc:
        raise ChannelError(f"refused: {type(exc).__name__}: {_short(str(exc))}") from exc


def _expect(response: httpx.Response, *codes: int) -> None:
    if response.status_code not in codes:
        raise ChannelError(f"HTTP {response.status_code}: {_short(response.text)}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError as exc:
        raise ChannelError(f"the answer is not JSON: {_short(response.text)!r}") from exc
    if not isinstance(value, dict):
        raise ChannelError(f"the answer is not a JSON object: {_short(response.text)!r}")
    return value


class SmtpTransport:
    def __init__(self, channel: SmtpChannel, secrets: ChannelSecrets, timeout: float) -> None:
        self._c = channel
        self._timeout = timeout
        self._user = (
            secrets.resolve(channel.username, field="username") if channel.username else None
        )
        self._password = (
            secrets.resolve(channel.password, field="password") if channel.password else None
        )

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._c.ca_file)

    def send(self, message: Message, *, address: str, message_id: str) -> str | None:
        mail = email(message, sender=self._c.sender, to=address, message_id=f"<{message_id}>")
        try:
            if self._c.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self._c.host, self._c.port, timeout=self._timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self._c.host, self._c.port, timeout=self._timeout)
            with smtp:
                if self._c.security == "starttls":
                    smtp.starttls(context=self._context())
                if self._user is not None and self._password is not None:
                    smtp.login(self._user, self._password)
                refused = smtp.send_message(mail)
        except (TimeoutError, OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else _short(str(exc) or "")
            raise ChannelError(f"SMTP: {type(exc).__name__}: {reason}") from exc
        if refused:
            raise ChannelError(f"SMTP refused {', '.join(refused)}")
        return None


class SlackTransport:
    def __init__(
        self, channel: SlackChannel, secrets: ChannelSecrets, client: httpx.Client
    ) -> None:
        self._url = secrets.resolve(channel.url, field="url")
        self._client = client

    def send(self, message: Message, *, address: str, message_id: str) -> str | None:
        response = _post(self._client, self._url, json=slack_payload(message))
        _expect(response, 200)
        if response.text.strip() != "ok":  # Slack answers exactly "ok"
            raise ChannelError(f"Slack did not answer ok: {_short(response.text)!r}")
        return None


class TeamsTransport:
    def __init__(
        self, channel: TeamsChannel, secrets: ChannelSecrets, client: httpx.Client
    ) -> None:
        self._url = secrets.resolve(channel.url, field="url")
        self._client = client

    def send(self, message: Message, *, address: str, message_id: str) -> str | None:
        _expect(_post(self._client, self._url, json=teams_payload(message)), 200, 202)
        return None


class WebhookTransport:
    def __init__(
        self,
        channel: WebhookChannel,
        secrets: ChannelSecrets,
        client: httpx.Client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = secrets.resolve(channel.url, field="url")
        self._secret = secrets.resolve(channel.secret, field="secret")
        self._client = client
        self._clock = clock

    def send(self, message: Message, *, address: str, message_id: str) -> str | None:
        body = webhook_body(message)
        headers = signed_headers(self._secret, message_id, int(self._clock()), body)
        _expect(_post(self._client, self._url, content=body, headers=headers), 200, 201, 202, 204)
        return None


class GithubTransport:
    """``POST /repos/{owner}/{repo}/issues``; ``GET …/issues/{number}`` for the state."""

    def __init__(
        self, channel: GithubChannel, secrets: ChannelSecrets, client: httpx.Client
    ) -> None:
        self._c = channel
        self._client = client
        self._headers = {
            "authorization": f"Bearer {secrets.resolve(channel.token, field='token')}",
            "accept": "application/vnd.github+json",
            "x-github-api-version": "2022-11-28",
        }

    def _issues(self) -> str:
        return f"{self._c.api.rstrip('/')}/repos/{self._c.repository}/issues"

    def send(self, message: Message, *, address: str, message_id: str) -> str | None:
        title, body = issue_text(message)
        payload = {"title": title, "body": body, "labels": list(self._c.labels)}
        response = _post(self._client, self._issues(), json=payload, headers=self._headers)
        _expect(response, 201)
        number = _json(response).get("number")
        if not isinstance(number, int):
            raise ChannelError("GitHub's answer has no issue number")
        return f"{self._c.repository}#{number}"

    def is_closed(self, reference: str) -> bool:
        number = reference.rpartition("#")[2]
        response = _get(self._client, f"{self._issues()}/{number}", headers=self._headers)
        _expect(response, 200)
        state = _json(response).get("state")
        if state not in ("open", "closed"):
            raise ChannelError(f"GitHub issue {reference} has no state")
        return bool(state == "closed")


class JiraTransport:
    """``POST /rest/api/2/issue``; ``GET /rest/api/2/issue/{key}`` (done: status category)."""

    def __init__(self, channel: JiraChannel, secrets: ChannelSecrets, client: httpx.Client) -> None:
        self._c = channel
        self._client = client
        self._auth = (
            secrets.resolve(channel.email, field="email"),
            secrets.resolve(channel.token, field="token"),
        )

    def send(self, message: Message, *, address: str, message_id: str) -> str | None:
        title, body = issue_text(message)
        fields = {
            "project": {"key": self._c.project},
            "summary": title,
            "description": body,
            "issuetype": {"name": self._c.issue_type},
        }
        url = f"{self._c.url.rstrip('/')}/rest/api/2/issue"
        response = _post(self._client, url, json={"fields": fields}, auth=self._auth)
        _expect(response, 201)
        key = _json(response).get("key")
        if not isinstance(key, str) or not key:
            raise ChannelError("Jira's answer has no issue key")
        return key

    def is_closed(self, reference: str) -> bool:
        url = f"{self._c.url.rstrip('/')}/rest/api/2/issue/{reference}"
        response = _get(self._client, url, params={"fields": "status"}, auth=self._auth)
        _expect(response, 200)
        status = (_json(response).get("fields") or {}).get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        if not isinstance(category, str):
            raise ChannelError(f"Jira issue {reference} has no status category")
        return category == "done"


def build(
    channel: Channel, secrets: ChannelSecrets, client: httpx.Client, timeout: float
) -> Transport:
    """The transport for one configured channel (resolving its secrets now)."""
    if isinstance(channel, SmtpChannel):
        return SmtpTransport(channel, secrets, timeout)
    if isinstance(channel, SlackChannel):
        return SlackTransport(channel, secrets, client)
    if isinstance(channel, TeamsChannel):
        return TeamsTransport(channel, secrets, client)
    if isinstance(channel, WebhookChannel):
        return WebhookTransport(channel, secrets, client)
    if isinstance(channel, GithubChannel):
        return GithubTransport(channel, secrets, client)
    return JiraTransport(channel, secrets, client)
