"""Upstream MCP servers: starting them, keeping them connected, forwarding to them.

Each upstream has one long-lived MCP client session (the official SDK's
:class:`mcp.Client`), shared by every agent session: credentials belong to the
upstream, not to an agent, and JSON-RPC multiplexes concurrent calls. A
*keeper* task owns the connection: it starts the process (stdio) or connects
(HTTP) with the upstream's credentials injected, loads its catalogue, and
reconnects with backoff when the process crashes or the server stops
answering. Calls never wait on a dead upstream: they fail at once with
:class:`UpstreamUnavailable`, naming the last error, and wake the keeper.

Failures are reported as what they are — unavailable, timed out, failed
mid-call, or an error the upstream itself returned — never as a result.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, TypeVar

import anyio
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.stdio import get_default_environment
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import UNSUPPORTED_PROTOCOL_VERSION
from pydantic import BaseModel, ValidationError

from charter.gateway.cancellation import ReasonedCancellations, abandon_reason
from charter.gateway.config import UpstreamConfig
from charter.gateway.secrets import Secrets
from charter.services.metrics import GATEWAY_CALLS

if TYPE_CHECKING:
    from charter.gateway.rawcall import RawChannel

logger = logging.getLogger("charter.gateway.upstream")

ResultT = TypeVar("ResultT", bound=BaseModel)

#: Pages of a listing read from one upstream, and items kept, at most.
MAX_PAGES = 50
MAX_ITEMS = 5000
HEALTH_INTERVAL = 15.0
MAX_BACKOFF = 30.0


class UpstreamState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DOWN = "down"
    CLOSED = "closed"


class UpstreamError(Exception):
    """An upstream could not give an answer; ``message`` is safe to show the agent."""

    kind = "failed"

    def __init__(self, upstream: str, message: str) -> None:
        super().__init__(message)
        self.upstream = upstream
        self.message = message


class UpstreamUnavailable(UpstreamError):
    kind = "unavailable"


class UpstreamTimeout(UpstreamError):
    kind = "timeout"


class UpstreamFailed(UpstreamError):
    """The connection broke during the call, or the upstream answered nonsense."""

    kind = "failed"


class UpstreamRefused(UpstreamError):
    """The upstream answered with its own JSON-RPC error: forwarded as it is."""

    kind = "error"

    def __init__(self, upstream: str, error: types.ErrorData) -> None:
        super().__init__(upstream, error.message)
        self.error = error


@dataclass
class Catalogue:
    """What one upstream offers, as it last listed it."""

    tools: list[types.Tool] = field(default_factory=list)
    resources: list[types.Resource] = field(default_factory=list)
    templates: list[types.ResourceTemplate] = field(default_factory=list)
    prompts: list[types.Prompt] = field(default_factory=list)


Listener = Callable[["Upstream"], None]


class Peer(Protocol):
    """Where what an upstream sends back goes (:class:`charter.gateway.relay.Relay`)."""

    async def sampling(self, upstream: str, params: types.CreateMessageRequestParams) -> Any: ...
    async def elicitation(self, upstream: str, params: types.ElicitRequestParams) -> Any: ...
    async def roots(self, upstream: str) -> Any: ...
    def log(self, upstream: str, params: types.LoggingMessageNotificationParams) -> None: ...
    def resource_updated(self, upstream: str, uri: str) -> None: ...


class Upstream:
    """One upstream MCP server and the session the gateway holds to it."""

    def __init__(
        self,
        config: UpstreamConfig,
        secrets: Secrets,
        *,
        call_timeout: float,
        errlog: TextIO | None = None,
        health_interval: float = HEALTH_INTERVAL,
        base_dir: Path | None = None,
        peer: Peer | None = None,
    ) -> None:
        self.config = config
        self.peer = peer
        self._base_dir = base_dir or Path.cwd()
        self.name = config.name
        self.call_timeout = config.call_timeout or call_timeout
        self.state = UpstreamState.STARTING
        self.last_error: str | None = None
        self.catalogue = Catalogue()
        self.listeners: list[Listener] = []
        #: Awaited (in the keeper) each time a connection is ready; ``connections`` counts them.
        self.on_ready: list[Callable[[Upstream], Awaitable[None]]] = []
        self.connections = 0
        self._secrets = secrets
        self._errlog = errlog
        self._health_interval = health_interval
        self._client: Client | None = None
        #: The raw way to an HTTP upstream's session (:mod:`.rawcall`), while connected.
        self.raw: RawChannel | None = None
        self._ready = anyio.Event()
        self._attempted = anyio.Event()
        self._lost = anyio.Event()
        self._kick = anyio.Event()
        self._wake = anyio.Event()
        self._closing = False
        #: ``auto`` found the upstream modern-only (it refused the initialize handshake).
        self._modern_only = False

    @property
    def mode(self) -> str:
        """The connect mode handed to the SDK for the next connection.

        ``auto`` prefers the initialize handshake whenever the upstream offers it:
        that session carries the whole protocol both ways (server-initiated
        sampling, elicitation and roots mid-call, logs, resource updates), and a
        version-spanning upstream tool asks the same question either way. Only an
        upstream that refuses the handshake (modern-only) gets the SDK's own
        negotiation, which settles on 2026-07-28.
        """
        if self.config.protocol == "auto":
            return "auto" if self._modern_only else "legacy"
        return self.config.protocol

    # -- connection ----------------------------------------------------------------
    def _transport(self) -> AbstractAsyncContextManager[Any]:
        config = self.config
        if config.stdio is not None:
            stdio = config.stdio
            base = dict(os.environ) if stdio.inherit_env else get_default_environment()
            env = base | self._secrets.resolve_all(
                stdio.env, field=f"upstreams.{self.name}.stdio.env"
            )
            # "python" is the interpreter running the gateway (its venv, its mcp SDK);
            # relative paths are relative to the config file's directory.
            command = sys.executable if stdio.command == "python" else stdio.command
            cwd = self._base_dir / stdio.cwd if stdio.cwd else self._base_dir
            params = StdioServerParameters(command=command, args=list(stdio.args), env=env, cwd=cwd)
            return _reasoned(stdio_client(params, errlog=self._errlog or sys.stderr))
        assert config.http is not None
        headers = self._secrets.resolve_all(
            config.http.headers, field=f"upstreams.{self.name}.http.headers"
        )
        http = create_mcp_http_client(
            headers=headers,
            timeout=httpx2.Timeout(config.connect_timeout, read=max(self.call_timeout, 30.0) + 5),
        )
        from charter.gateway.rawcall import RawChannel  # it raises this module's errors

        self.raw = RawChannel(self.name, config.http.url, http, headers)
        return _reasoned(_owned_http(config.http.url, http))

    async def run(self) -> None:
        """The keeper: connect, hold, notice loss, reconnect with backoff, until closed."""
        delay = 0.5
        while not self._closing:
            self._lost = anyio.Event()
            switched = connected = False
            try:
                client = Client(
                    self._transport(),
                    mode=self.mode,
                    cache=None,
                    read_timeout_seconds=self.config.connect_timeout,
                    message_handler=self._on_message,
                    client_info=types.Implementation(name="charter-gateway", version="1"),
                    **self._callbacks(),
                )
                async with client:
                    connected = True
                    await self._load_catalogue(client)
                    self._client = client
                    self.state = UpstreamState.READY
                    self.last_error = None
                    delay = 0.5
                    self._ready.set()
                    self._attempted.set()
                    logger.info("upstream %s ready: %d tools", self.name, len(self.catalogue.tools))
                    self._notify()
                    self.connections += 1
                    for hook in self.on_ready:
                        try:
                            await hook(self)
                        except Exception:
                            logger.exception("a hook on upstream %s being ready failed", self.name)
                    await self._hold(client)
            except Exception as exc:  # every failure of an upstream is reported, not raised
                if not connected and self._refused_handshake(exc):
                    logger.info("upstream %s refuses the handshake; speaking 2026-07-28", self.name)
                    self._modern_only = switched = True
                else:
                    self.last_error = self._secrets.redact(_describe(exc))
                    logger.warning("upstream %s is down: %s", self.name, self.last_error)
            finally:
                self._client = None
                if self.raw is not None:
                    self.raw.pool.close()
                self.raw = None
                if self._ready.is_set():
                    self._ready = anyio.Event()
                self.state = UpstreamState.CLOSED if self._closing else UpstreamState.DOWN
                if not switched:
                    self._attempted.set()
            if self._closing:
                break
            if switched:
                continue
            self._wake = anyio.Event()
            with anyio.move_on_after(delay):
                await self._wake.wait()
            delay = min(delay * 2, MAX_BACKOFF)

    def _refused_handshake(self, exc: BaseException) -> bool:
        """Whether ``auto``'s handshake was refused as an unsupported protocol version."""
        if self.config.protocol != "auto" or self._modern_only:
            return False
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        return isinstance(exc, MCPError) and exc.error.code in (
            UNSUPPORTED_PROTOCOL_VERSION,
            types.METHOD_NOT_FOUND,
        )

    async def _hold(self, client: Client) -> None:
        """Keep the session until it is lost, re-reading the catalogue now and then.

        The periodic re-read is also the health check (2026-era servers have no
        ``ping``, and announce listing changes only to subscribers): a server
        that stopped answering is noticed within ``health_interval``. A
        ``list_changed`` notification triggers it at once.
        """
        while not self._lost.is_set() and not self._closing:
            self._kick = anyio.Event()
            with anyio.move_on_after(self._health_interval):
                await self._kick.wait()
            if self._lost.is_set() or self._closing:
                return
            before = self.catalogue
            with anyio.fail_after(self.config.connect_timeout):
                await self._load_catalogue(client)
            if self.catalogue != before:
                self._notify()

    def close(self) -> None:
        self._closing = True
        self._lose()
        self._wake.set()

    def _callbacks(self) -> dict[str, Any]:
        """The upstream's requests to the agent and its log messages, handed to the peer."""
        peer = self.peer
        if peer is None:
            return {}
        name = self.name

        async def sampling(_ctx: Any, params: types.CreateMessageRequestParams) -> Any:
            return await peer.sampling(name, params)

        async def elicitation(_ctx: Any, params: types.ElicitRequestParams) -> Any:
            return await peer.elicitation(name, params)

        async def roots(_ctx: Any) -> Any:
            return await peer.roots(name)

        async def log(params: types.LoggingMessageNotificationParams) -> None:
            peer.log(name, params)

        callbacks: dict[str, Any] = {
            "sampling_callback": sampling,
            "elicitation_callback": elicitation,
            "logging_callback": log,
        }
        if self.mode == "legacy":
            # Roots are deprecated at 2026-07-28, and declaring them there costs every
            # request (measured: +40 ms p50 per call on the development host).
            callbacks["list_roots_callback"] = roots
        return callbacks

    async def _on_message(self, message: Any) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, types.ResourceUpdatedNotification) and self.peer is not None:
            self.peer.resource_updated(self.name, str(root.params.uri))
        elif isinstance(
            root,
            types.ToolListChangedNotification
            | types.ResourceListChangedNotification
            | types.PromptListChangedNotification,
        ):
            self._kick.set()
        elif isinstance(message, Exception):
            logger.debug("upstream %s transport error: %s", self.name, message)
        await anyio.lowlevel.checkpoint()

    def _notify(self) -> None:
        for listener in self.listeners:
            try:
                listener(self)
            except Exception:
                logger.exception("catalogue listener failed")

    async def _load_catalogue(self, client: Client) -> None:
        session = client.session
        capabilities = session.server_capabilities or types.ServerCapabilities()
        catalogue = Catalogue()
        if capabilities.tools is not None:
            catalogue.tools = await _pages(session.list_tools, "tools")
        if capabilities.resources is not None:
            catalogue.resources = await _pages(session.list_resources, "resources")
            catalogue.templates = await _pages(
                session.list_resource_templates, "resource_templates"
            )
        if capabilities.prompts is not None:
            catalogue.prompts = await _pages(session.list_prompts, "prompts")
        self.catalogue = catalogue

    async def wait_attempted(self, timeout: float) -> None:
        """Wait (bounded) until the first connection attempt has succeeded or failed."""
        with anyio.move_on_after(timeout):
            await self._attempted.wait()

    # -- forwarding ------------------------------------------------------------------
    async def request(
        self,
        request: Any,
        result_type: type[ResultT],
        *,
        abandoned: Callable[[], str | None] = lambda: None,
        progress: ProgressFnT | None = None,
    ) -> ResultT:
        """Forward one request; the upstream's result as the SDK's typed model, or a typed
        :class:`UpstreamError`.

        The result is parsed as the MCP result type (the SDK's version-spanning
        model) so the gateway's server hands it to each agent in the protocol
        version *that* agent negotiated; its content is not touched. When the
        caller's scope is cancelled the upstream is told (MCP cancellation), with
        ``abandoned()`` as the reason when it gives one.
        """
        client = self._client
        if client is None or self.state != UpstreamState.READY:
            self._wake.set()
            why = f": {self.last_error}" if self.last_error else ""
            raise UpstreamUnavailable(self.name, f"upstream {self.name!r} is unavailable{why}")
        timeout = self.call_timeout
        try:
            with anyio.fail_after(timeout + 1), abandon_reason(abandoned):
                result = await client.session.send_request(
                    request,
                    result_type,
                    request_read_timeout_seconds=timeout,
                    progress_callback=progress,
                )
            GATEWAY_CALLS.labels(self.name, "ok").inc()
            return result
        except anyio.get_cancelled_exc_class():
            GATEWAY_CALLS.labels(self.name, "cut").inc()  # the agent was cut off mid-call
            raise
        except MCPError as exc:
            if exc.error.code == types.REQUEST_TIMEOUT:
                raise UpstreamTimeout(
                    self.name, f"upstream {self.name!r} did not answer within {_seconds(timeout)}"
                ) from None
            if exc.error.code == types.CONNECTION_CLOSED:
                self._lose()
                raise UpstreamFailed(
                    self.name, f"upstream {self.name!r} closed the connection during the call"
                ) from None
            error = exc.error.model_copy(
                update={"message": self._secrets.redact(exc.error.message)}
            )
            raise UpstreamRefused(self.name, error) from None
        except TimeoutError:
            raise UpstreamTimeout(
                self.name, f"upstream {self.name!r} did not answer within {_seconds(timeout)}"
            ) from None
        except ValidationError:
            raise UpstreamFailed(
                self.name, f"upstream {self.name!r} returned a result that is not valid MCP"
            ) from None
        except (
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            anyio.EndOfStream,
            OSError,
        ) as exc:
            self._lose()
            raise UpstreamFailed(
                self.name, f"upstream {self.name!r} failed during the call ({type(exc).__name__})"
            ) from None

    def _lose(self) -> None:
        if self.state == UpstreamState.READY:
            self.state = UpstreamState.DOWN
        self._lost.set()
        self._kick.set()


@asynccontextmanager
async def _reasoned(transport: AbstractAsyncContextManager[Any]) -> AsyncIterator[Any]:
    """``transport``'s streams, cancellations written with the abandoned call's reason."""
    async with transport as (read_stream, write_stream):
        yield read_stream, ReasonedCancellations(write_stream)


def _owned_http(url: str, http: httpx2.AsyncClient) -> AbstractAsyncContextManager[Any]:
    """The streamable HTTP transport over ``http``, closing ``http`` when done."""

    @asynccontextmanager
    async def transport() -> Any:
        async with http, streamable_http_client(url, http_client=http) as streams:
            yield streams

    return transport()


async def _pages(list_page: Callable[..., Awaitable[Any]], attribute: str) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        result = await list_page(params=params)
        items.extend(getattr(result, attribute))
        cursor = result.next_cursor
        if not cursor or len(items) >= MAX_ITEMS:
            break
    return items[:MAX_ITEMS]


def _describe(exc: BaseException) -> str:
    """A one-line reason, looking inside exception groups for the first real cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return f"{exc.error.message} (code {exc.error.code})"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def _seconds(value: float) -> str:
    return f"{value:g} s" if math.isfinite(value) else "ever"
