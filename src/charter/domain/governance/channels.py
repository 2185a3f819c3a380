"""The ``delivery`` section of the governance policy file: channels and who gets what.

Notices and tasks are recorded in the store; this section says where they go:

* ``channels`` — named transports: ``smtp`` (e-mail, STARTTLS and auth),
  ``slack`` and ``teams`` (incoming webhooks), ``webhook`` (a JSON POST signed
  the Standard Webhooks way), ``github`` and ``jira`` (a task opens an issue,
  and closing the issue closes the task);
* ``routes`` — which items (notices, tasks; optionally only some kinds) go to
  which channel, and for e-mail to whom: ``owner`` (the notice's recipient, the
  task's assignee or the agent's owner), ``manager`` (their manager in the
  directory) or a fixed address (a team list); ``digest: true`` gathers them into
  one daily message per address instead.

Secrets (passwords, tokens, signing keys, webhook URLs) are never literals
here: ``{env: NAME}`` reads the worker's environment, ``{secret: KEY}`` the
``secrets_file`` (a flat YAML mapping). The store never sees them. Everything
is validated when the policy loads; a malformed channel names its field.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from charter.domain.charter import Duration

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62})$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
HTTP_URL = r"^https?://[^\s]+$"
ItemType = Literal["notice", "task"]
ITEM_TYPES: tuple[ItemType, ...] = ("notice", "task")
#: who a route addresses on a person channel (e-mail), besides fixed addresses
PERSON_TARGETS = ("owner", "manager")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvRef(_Strict):
    """``{env: NAME}``: the value of an environment variable of the worker."""

    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class SecretRef(_Strict):
    """``{secret: KEY}``: a value from the delivery secrets file."""

    secret: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")


#: a secret: never a literal in the policy file
SecretValue = EnvRef | SecretRef
#: a value that may be written out, or come from the environment or the secrets file
Value = Annotated[str, Field(min_length=1, max_length=2048)] | EnvRef | SecretRef


class SmtpChannel(_Strict):
    """E-mail through an SMTP relay (RFC 5321), upgraded with STARTTLS (RFC 3207)."""

    type: Literal["smtp"]
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    port: int = Field(default=587, ge=1, le=65535)
    #: ``starttls`` (port 587), ``tls`` (implicit TLS, port 465) or ``none`` (a local relay)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: Value | None = None
    password: SecretValue | None = None
    sender: str = Field(pattern=EMAIL_PATTERN, max_length=320)
    #: a CA bundle to verify the relay with (a private CA); default: the system's
    ca_file: str | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _auth_pairs(self) -> SmtpChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class SlackChannel(_Strict):
    """A Slack incoming webhook (``https://hooks.slack.com/services/…``)."""

    type: Literal["slack"]
    url: Value


class TeamsChannel(_Strict):
    """A Microsoft Teams incoming webhook (a Workflows or connector URL)."""

    type: Literal["teams"]
    url: Value


class WebhookChannel(_Strict):
    """A JSON POST signed per Standard Webhooks (``webhook-id``, ``-timestamp``, ``-signature``)."""

    type: Literal["webhook"]
    url: Value
    secret: SecretValue


class GithubChannel(_Strict):
    """Tasks open issues in one repository (GitHub REST API, a token with issues:write)."""

    type: Literal["github"]
    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    token: SecretValue
    api: str = Field(default="https://api.github.com", pattern=HTTP_URL)
    labels: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=lambda: ["charter"], max_length=10
    )


class JiraChannel(_Strict):
    """Tasks open issues in one Jira project (REST API v2, basic auth with an API token)."""

    type: Literal["jira"]
    url: str = Field(pattern=HTTP_URL)
    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,49}$")
    email: Value
    token: SecretValue
    issue_type: str = Field(default="Task", min_length=1, max_length=60)


Channel = Annotated[
    SmtpChannel | SlackChannel | TeamsChannel | WebhookChannel | GithubChannel | JiraChannel,
    Field(discriminator="type"),
]
#: channels whose messages are addressed to people (one message per address)
PERSON_CHANNELS = frozenset({"smtp"})
#: channels that file an issue per task and follow its state
ISSUE_CHANNELS = frozenset({"github", "jira"})


class Route(_Strict):
    """Which items go to ``channel`` (and, for e-mail, to whom)."""

    channel: str = Field(pattern=NAME_PATTERN)
    items: list[ItemType] = Field(default_factory=lambda: list(ITEM_TYPES), min_length=1)
    #: notice or task kinds (``review.*`` patterns); empty: every kind
    kinds: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    #: e-mail only: ``owner``, ``manager`` or fixed addresses
    to: list[Annotated[str, Field(max_length=320)]] = Field(
        default_factory=lambda: ["owner"], min_length=1, max_length=20
    )
    digest: bool = False

    def matches(self, item_type: str, kind: str) -> bool:
        if item_type not in self.items:
            return False
        return not self.kinds or any(fnmatch.fnmatchcase(kind, k) for k in self.kinds)


class RetryPolicy(_Strict):
    """Exponential backoff: ``base``, 2×, 4× … up to ``max``; failed after ``attempts``."""

    attempts: int = Field(default=8, ge=1, le=50)
    base: Duration = 30
    max: Duration = 3600

    def delay(self, attempts: int) -> int:
        """Seconds to wait after the ``attempts``-th failure (1-based)."""
        return int(min(self.max, self.base * 2 ** max(0, min(attempts - 1, 30))))


class DeliveryPolicy(_Strict):
    """The whole ``delivery`` section (absent: nothing is sent)."""

    channels: dict[str, Channel] = Field(default_factory=dict, max_length=50)
    routes: list[Route] = Field(default_factory=list, max_length=100)
    #: a flat YAML mapping of secret names to values (relative to CHARTER_HOME)
    secrets_file: str | None = Field(default=None, min_length=1, max_length=1024)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    #: the daily digest goes out at this UTC time
    digest_at: str = Field(default="08:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    #: per-request network timeout, in seconds
    timeout: float = Field(default=10.0, gt=0, le=120)
    #: how often the worker's delivery job runs, and how many messages one pass claims
    every: Duration = 30
    batch: int = Field(default=500, ge=1, le=10_000)
    #: messages in flight at once (after each channel's first one went through)
    concurrency: int = Field(default=8, ge=1, le=64)
    #: a pass stops claiming after this long, so other jobs are never starved
    budget: Duration = 50
    #: how often open issues (GitHub, Jira) are polled for their state
    poll_issues_every: Duration = 300
    #: items older than this when delivery first sees them are not sent (no flood on enable)
    since: Duration = 7 * 86400
    #: the console's address, for links in messages
    console_url: str | None = Field(default=None, pattern=HTTP_URL)

    @model_validator(mode="after")
    def _consistent(self) -> DeliveryPolicy:
        for name in self.channels:
            if not re.fullmatch(NAME_PATTERN, name):
                raise ValueError(f"channel name {name!r} is not lower-case letters, digits, '-'")
        for index, route in enumerate(self.routes):
            channel = self.channels.get(route.channel)
            if channel is None:
                raise ValueError(
                    f"routes[{index}].channel: no channel named {route.channel!r} "
                    f"(channels: {', '.join(sorted(self.channels)) or 'none'})"
                )
            if channel.type in ISSUE_CHANNELS and route.items != ["task"]:
                raise ValueError(
                    f"routes[{index}].items: a {channel.type} channel files tasks only "
                    "(items: [task])"
                )
            if channel.type in ISSUE_CHANNELS and route.digest:
                raise ValueError(f"routes[{index}].digest: issues are filed one per task")
            for target in route.to:
                if target not in PERSON_TARGETS and not re.fullmatch(EMAIL_PATTERN, target):
                    raise ValueError(
                        f"routes[{index}].to: {target!r} is not owner, manager or an e-mail"
                    )
            if channel.type not in PERSON_CHANNELS and route.to != ["owner"]:
                raise ValueError(
                    f"routes[{index}].to: a {channel.type} channel is a team channel; "
                    "'to' is for e-mail routes"
                )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.routes)

    def digest_minutes(self) -> int:
        hours, minutes = self.digest_at.split(":")
        return int(hours) * 60 + int(minutes)
