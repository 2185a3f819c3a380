"""The gateway configuration file: which upstream MCP servers exist and how to reach them.

One YAML (or JSON) file, read once at start::

    version: 1
    gateway:
      resource: http://127.0.0.1:8100/mcp     # this gateway's RFC 8707 resource URI
      call_timeout: 30s
    secrets_file: secrets.yaml                # optional; relative to this file
    upstreams:
      - name: helpdesk                        # the *system* in every decision
        stdio:
          command: python
          args: [helpdesk_server.py]
          env:
            HELPDESK_API_KEY: {secret: helpdesk_api_key}
      - name: mail
        http:
          url: https://mail.internal/mcp
          headers:
            Authorization: {env: MAIL_TOKEN, prefix: "Bearer "}

Credentials are *references* (``{env: NAME}`` or ``{secret: KEY}``), resolved by
:mod:`charter.gateway.secrets` when an upstream is started: the gateway holds
them and injects them into the upstream's environment or request headers; they
never reach the agent (the MCP authorization spec forbids passing the agent's
own token through, and an agent that never holds the downstream credential
cannot use it around the gateway).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from charter.domain.charter import NAME_PATTERN
from charter.domain.charter_parsing import load_yaml
from charter.domain.durations import parse_duration
from charter.errors import InputTooLarge, InvalidInput

MAX_CONFIG_BYTES = 1024 * 1024
DEFAULT_PORT = 8100
#: The largest JSON-RPC message the gateway reads from an agent (bytes).
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024

Seconds = Annotated[
    float, BeforeValidator(lambda v: v if isinstance(v, float) else parse_duration(v))
]
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
#: Headers the gateway writes itself (or that steer the connection): never configured.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "upgrade"}
)
#: Characters no header value may hold (they would end the line or the head).
_UNSAFE_VALUE = re.compile(r"[\r\n\0]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _Reference(BaseModel):
    # no whitespace stripping: a prefix such as "Bearer " keeps its space
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvRef(_Reference):
    """A value read from the gateway's own environment when the upstream starts."""

    env: str = Field(pattern=_ENV_NAME)
    prefix: str = ""


class SecretRef(_Reference):
    """A value read from the secrets file (a flat YAML/JSON mapping of key → value)."""

    secret: str = Field(min_length=1, max_length=128)
    prefix: str = ""


#: A credential or setting: a literal, or a reference resolved at start.
Value = str | EnvRef | SecretRef


class StdioUpstream(_Strict):
    """An MCP server the gateway starts as a child process and speaks to over stdin/stdout."""

    #: ``python`` means the interpreter running the gateway (its virtualenv)
    command: str = Field(min_length=1, max_length=4096)
    args: list[str] = Field(default_factory=list, max_length=256)
    #: the child's working directory; relative to the config file's directory (its default)
    cwd: str | None = None
    env: dict[str, Value] = Field(default_factory=dict, max_length=256)
    #: Pass the gateway's whole environment to the child (default: only the
    #: SDK's safe defaults such as PATH and HOME, plus ``env``), so the
    #: gateway's own secrets do not leak into every upstream.
    inherit_env: bool = False

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, Value]) -> dict[str, Value]:
        for name in value:
            if not re.match(_ENV_NAME, name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return value


class HttpUpstream(_Strict):
    """A remote MCP server reached over streamable HTTP."""

    url: str = Field(pattern=r"^https?://", max_length=2048)
    headers: dict[str, Value] = Field(default_factory=dict, max_length=64)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, Value]) -> dict[str, Value]:
        for name in value:
            if not re.fullmatch(_HEADER_NAME, name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"{name!r} is set by the gateway itself, not configurable")
            item = value[name]
            text = item if isinstance(item, str) else item.prefix
            if _UNSAFE_VALUE.search(text):
                raise ValueError(f"the value of {name!r} holds a CR, LF or NUL")
        return value


class UpstreamConfig(_Strict):
    """One upstream MCP server. Its ``name`` is the *system* of every decision about it."""

    name: str = Field(pattern=NAME_PATTERN, description="a slug; the system in resources")
    description: str | None = Field(default=None, max_length=500)
    stdio: StdioUpstream | None = None
    http: HttpUpstream | None = None
    #: Prepended to this upstream's tool names as the agent sees them
    #: (``mail.`` makes ``send_email`` appear as ``mail.send_email``); the
    #: decision's action is always the upstream's own tool name.
    tool_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,32}$")
    #: How long one call may take before the agent is told the upstream timed out.
    call_timeout: Seconds | None = None
    #: How long starting (spawn + handshake) may take.
    connect_timeout: Seconds = 15.0
    #: The MCP revision spoken to this upstream: ``auto`` (the initialize handshake when
    #: the upstream offers it: a session whose tools may ask the agent mid-call with
    #: ``sampling/createMessage`` or ``elicitation/create``, and send logs and resource
    #: updates; else 2026-07-28), ``legacy`` (always the handshake), or a revision.
    protocol: Literal["auto", "legacy", "2026-07-28"] = "auto"

    @model_validator(mode="after")
    def _one_transport(self) -> UpstreamConfig:
        if (self.stdio is None) == (self.http is None):
            raise ValueError(f"upstream {self.name!r} needs exactly one of 'stdio' or 'http'")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.stdio is not None else "http"


class GatewaySettings(_Strict):
    """How the gateway itself behaves."""

    #: This gateway's resource identifier (RFC 8707 / RFC 9728 ``resource``):
    #: access tokens must name it in ``aud``. Default: ``http://<host>:<port>/mcp``.
    resource: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)
    #: The authorization server(s) that issue tokens for this gateway (RFC 9728
    #: ``authorization_servers``). Default: ``CHARTER_URL``, else the token
    #: service's issuer.
    authorization_servers: list[str] = Field(default_factory=list, max_length=8)
    call_timeout: Seconds = 30.0
    max_message_bytes: int = Field(default=DEFAULT_MAX_MESSAGE_BYTES, ge=1024, le=64 * 1024 * 1024)
    #: Calls per minute any one agent may make through this gateway, whatever
    #: its charter says (charter rules may set tighter per-tool limits).
    agent_calls_per_minute: int | None = Field(default=None, gt=0, le=1_000_000)
    max_sessions: int = Field(default=1000, ge=1, le=100_000)
    session_idle_timeout: Seconds = 1800.0
    #: How often agent states are re-read for the kill switch (seconds).
    watch_interval: Seconds = 0.5
    #: Answer agents over SSE, so a call's stream carries the upstream's requests
    #: (sampling, elicitation, roots), progress and logs before its result. ``false``
    #: answers in plain JSON: faster, but then none of those reach the agent (the
    #: upstream's requests are refused to it).
    stream_responses: bool = True
    #: Forward an allowed call from an agent that takes no requests back as raw JSON-RPC
    #: bytes to an HTTP upstream (:mod:`charter.gateway.fastpath`); ``false``: every call
    #: goes through the SDK's typed models on both hops.
    fast_path: bool = True
    #: How long a held call waits for the person it acts for to answer the gateway's
    #: approval elicitation (seconds); unanswered, the call stays held (``-32034``).
    approval_wait: Seconds = 120.0

    @field_validator("watch_interval", "call_timeout", "session_idle_timeout", "approval_wait")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be positive")
        return value


class GatewayConfig(_Strict):
    """The whole configuration file."""

    version: Literal[1] = 1
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    secrets_file: str | None = None
    upstreams: list[UpstreamConfig] = Field(min_length=1, max_length=256)
    #: Where the file was read from (relative paths resolve against it); not in the file.
    base_dir: Path = Field(default=Path(), exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> GatewayConfig:
        seen: set[str] = set()
        for upstream in self.upstreams:
            if upstream.name in seen:
                raise ValueError(f"two upstreams are named {upstream.name!r}")
            seen.add(upstream.name)
        return self

    def upstream(self, name: str) -> UpstreamConfig:
        for upstream in self.upstreams:
            if upstream.name == name:
                return upstream
        raise InvalidInput(f"no upstream named {name!r}", field="upstreams")

    def resolve_path(self, value: str) -> Path:
        path = Path(os.path.expandvars(value)).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)


_FORMS = {
    "name": "a slug (lowercase letters, digits and '-', e.g. 'helpdesk')",
    "tool_prefix": "a prefix of letters, digits, '.', '_' or '-' (at most 32)",
    "url": "an http:// or https:// URL",
    "resource": "an http:// or https:// URL",
    "env": "an environment variable name",
}


def _field_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location if not str(part).startswith("function-"))


def parse_config(document: Any, *, base_dir: Path = Path()) -> GatewayConfig:
    """Validate a parsed document; errors name the field (``upstreams.0.stdio.command``)."""
    if not isinstance(document, dict):
        raise InvalidInput("the gateway config must be a mapping", field="config")
    try:
        return GatewayConfig.model_validate({**document, "base_dir": base_dir})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _field_path(first["loc"]) or "config"
        message = first["msg"]
        if first["type"] == "string_pattern_mismatch":  # say what is expected, not the regex
            last = str(first["loc"][-1]) if first["loc"] else ""
            message = f"{first.get('input')!r} is not {_FORMS.get(last, 'in the expected form')}"
        raise InvalidInput(message, field=where) from exc


def load_config(path: Path) -> GatewayConfig:
    """Read and validate the config file at ``path``."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="config") from exc
    if size > MAX_CONFIG_BYTES:
        raise InputTooLarge(
            f"{path} is {size} bytes; the limit is {MAX_CONFIG_BYTES}", field="config"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="config") from exc
    # the charter loader: no aliases, no duplicate keys, bounded nesting
    document = load_yaml(text, source=str(path))
    return parse_config(document, base_dir=path.resolve().parent)
