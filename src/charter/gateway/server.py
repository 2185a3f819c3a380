"""The MCP gateway: an MCP server to agents, an MCP client to upstreams, Charter in between.

Built on the official SDK's low-level :class:`mcp.server.Server` (handlers per
method) and its streamable HTTP session manager; the gateway adds only what
the SDK does not know: who the agent is (:mod:`.auth`), whether it may
(:class:`~charter.gateway.authority.Authority`), how often (:mod:`.ratelimit`),
where a name goes (:mod:`.directory`), and how to stop it (:mod:`.sessions`).

For every ``tools/call``, ``resources/read`` and ``prompts/get`` the order is
fixed: look the name up (unknown → refused, nothing decided or forwarded) →
decide → rate-limit → forward under a cancellable scope → record Activity.
Nothing reaches an upstream without an allow decision; a deny, a limit, a cut
or an upstream failure is a clear MCP error, never a result. Listings show an
agent only what its charter could ever allow (and its token's scope covers).
Completion, subscriptions and the logging level are decided in the same
vocabulary (:mod:`.methods`); what an upstream sends back during a call —
sampling, elicitation and roots requests, progress, log messages — and later
— resource updates, list changes — goes through :mod:`.relay`, decided too.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TextIO

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from starlette.applications import Starlette
from starlette.requests import Request

from charter.domain.decision import Decision, Reason, ReasonCode
from charter.domain.patterns import parse_pattern
from charter.gateway import approval_elicitation, killswitch, methods
from charter.gateway.auth import PRINCIPAL_KEY
from charter.gateway.authority import AgentPrincipal, AgentView, Authority
from charter.gateway.config import GatewayConfig
from charter.gateway.directory import GET_PROMPT, READ_RESOURCE, Directory, resource_of
from charter.gateway.methods import connection_key
from charter.gateway.ratelimit import RateLimiter
from charter.gateway.refusals import (
    cut_off,
    denied,
    rate_limited,
    safe_name,
    unknown,
    upstream_failure,
)
from charter.gateway.relay import Call, Relay, log_stray_responses
from charter.gateway.secrets import Secrets
from charter.gateway.sessions import Sessions
from charter.gateway.upstream import ResultT, Upstream, UpstreamError
from charter.gateway.visibility import Visibility
from charter.version import __version__

logger = logging.getLogger("charter.gateway")

STARTUP_WAIT = 20.0  # how long the gateway waits at start for upstreams' first attempts
VIEW_TTL = 1.0

Ctx = ServerRequestContext[dict[str, Any], Any]


class Gateway:
    """One gateway process: its upstreams, its agents' sessions, and the MCP server."""

    def __init__(
        self,
        config: GatewayConfig,
        authority: Authority,
        *,
        resource: str,
        secrets: Secrets | None = None,
        errlog: TextIO | None = None,
    ) -> None:
        self.config = config
        self.settings = config.gateway
        self.authority = authority
        self.resource = resource
        self.secrets = secrets or Secrets.load(config)
        self.sessions = Sessions()
        self.limiter = RateLimiter()
        self.directory = Directory()
        self.relay = Relay(self)
        log_stray_responses()
        self.upstreams: dict[str, Upstream] = {}
        self._errlog = errlog
        self._views: dict[str, tuple[float, AgentView | None, Visibility]] = {}
        self._manager: StreamableHTTPSessionManager | None = None
        self._stdio_auth: Callable[[], Awaitable[AgentPrincipal]] | None = None
        with warnings.catch_warnings():  # logging: deprecated at 2026-07-28, live before it
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            self.server = self._build_server()
        # A no-op until an OpenTelemetry exporter is installed, but not free on every call.
        self.server.middleware = [
            m for m in self.server.middleware if type(m).__name__ != "OpenTelemetryMiddleware"
        ]

    def _build_server(self) -> Server[dict[str, Any]]:
        return Server(
            "charter-gateway",
            version=__version__,
            title="Charter MCP gateway",
            instructions="Every call is decided by Charter against the calling agent's charter.",
            lifespan=self._lifespan,
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_completion=lambda ctx, params: methods.complete(self, ctx, params),
            on_subscribe_resource=lambda ctx, params: methods.subscribe(self, ctx, params),
            on_unsubscribe_resource=lambda ctx, params: methods.unsubscribe(self, ctx, params),
            on_set_logging_level=lambda ctx, params: methods.set_level(self, ctx, params),
        )

    # -- lifecycle -------------------------------------------------------------------
    @asynccontextmanager
    async def _lifespan(self, _server: Server[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        async with anyio.create_task_group() as group:
            for upstream_config in self.config.upstreams:
                upstream = Upstream(
                    upstream_config,
                    self.secrets,
                    call_timeout=self.settings.call_timeout,
                    errlog=self._errlog,
                    base_dir=self.config.base_dir.resolve(),
                    peer=self.relay,
                )
                upstream.listeners.append(self._catalogue_changed)
                upstream.on_ready.append(lambda up: methods.renew_subscriptions(self, up))
                self.upstreams[upstream.name] = upstream
                group.start_soon(upstream.run)
                group.start_soon(self.relay.pump, upstream.name)
            with anyio.move_on_after(STARTUP_WAIT):
                for upstream in self.upstreams.values():
                    await upstream.wait_attempted(STARTUP_WAIT)
            group.start_soon(self._watch)
            try:
                yield {}
            finally:
                for upstream in self.upstreams.values():
                    upstream.close()
                with anyio.move_on_after(5, shield=True):
                    await anyio.sleep(0.05)
                group.cancel_scope.cancel()

    def _catalogue_changed(self, upstream: Upstream) -> None:
        self.directory.rebuild(
            self.upstreams[c.name] for c in self.config.upstreams if c.name in self.upstreams
        )
        self.relay.lists_changed(upstream.name)

    async def _watch(self) -> None:
        await killswitch.watch(self)

    async def cut(self, agent: str, reason: str) -> None:
        """Cut ``agent`` off now: cancel its in-flight calls, terminate its sessions, audit it."""
        await killswitch.cut(self, agent, reason)

    # -- who, may they, how often ------------------------------------------------------
    async def principal(self, ctx: Ctx) -> AgentPrincipal:
        request = ctx.request
        if isinstance(request, Request):
            principal = request.scope.get(PRINCIPAL_KEY)
            if isinstance(principal, AgentPrincipal):
                return principal
        if self._stdio_auth is not None:
            return await self._stdio_auth()
        raise MCPError(code=types.INVALID_REQUEST, message="not authenticated")  # fail closed

    async def _view(self, agent: str) -> tuple[AgentView | None, Visibility]:
        now = time.monotonic()
        cached = self._views.get(agent)
        if cached is not None and now - cached[0] < VIEW_TTL:
            return cached[1], cached[2]
        view = await self.authority.agent(agent)
        if cached is not None and cached[1] == view:
            visibility = cached[2]
        elif view is None or not view.active or view.expired:
            visibility = Visibility((), ())
        else:
            visibility = Visibility.of_rules([rule for _, rule in view.allow], view.deny)
        if len(self._views) > 10_000:
            self._views.clear()
        self._views[agent] = (now, view, visibility)
        return view, visibility

    async def _visible(self, principal: AgentPrincipal, action: str, resource: str) -> bool:
        if self.sessions.cut_reason(principal.agent) is not None or not principal.in_scope(action):
            return False
        _, visibility = await self._view(principal.agent)
        return visibility.may_allow(action, resource)

    def context(
        self, ctx: Ctx, method: str, upstream: str, name: str, arguments: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """What a charter's conditions can see: ``args.*``, ``source_ip``, ``mcp.*``."""
        mcp: dict[str, Any] = {"method": method, "server": upstream, "name": name}
        context: dict[str, Any] = {"args": dict(arguments or {}), "mcp": mcp}
        request = ctx.request
        if isinstance(request, Request):
            if request.client is not None:
                context["source_ip"] = request.client.host
            session = request.headers.get("mcp-session-id")
            if session:
                mcp["session"] = session
        return context

    async def decide(
        self,
        ctx: Ctx,
        principal: AgentPrincipal,
        what: str,
        action: str,
        resource: str,
        context: dict[str, Any],
    ) -> tuple[Decision, float]:
        """Decide, refuse out-of-scope and rate-limited calls; raise the MCP error on a deny."""
        started = time.perf_counter()
        reason = self.sessions.cut_reason(principal.agent)
        if reason is not None:
            raise cut_off(principal.agent, reason)
        decision = await self.authority.decide(principal, action, resource, context)
        if decision.needs_approval and principal.in_scope(action):  # ask the delegator, maybe
            decision = await approval_elicitation.settle_in_person(
                self, ctx, principal, what, action, resource, context, decision
            )
        return await self.settle(principal, what, action, resource, decision, started), started

    async def settle(
        self,
        principal: AgentPrincipal,
        what: str,
        action: str,
        resource: str,
        decision: Decision,
        started: float,
    ) -> Decision:
        """The token's scope as a ceiling, then the rate limits: the allow, or the MCP error."""
        if not principal.in_scope(action):  # a token's scope is a ceiling (RFC 6749 §3.3)
            beyond = Reason(
                ReasonCode.SCOPE_EXCEEDED,
                f"the access token's scope does not include {action!r}; request a token with it",
            )
            kept = decision.reasons if not decision.allowed else ()
            decision = Decision(False, reasons=(*kept, beyond))
        if not decision.allowed:
            self.record_decision(principal, action, resource, decision, started)
            raise denied(principal.agent, what, decision, action=action, resource=resource)
        view, _ = await self._view(principal.agent)
        per_rule = view.limits.get(decision.rule or "") if view is not None else None
        limited = self.limiter.over(
            principal.agent, action, per_rule, self.settings.agent_calls_per_minute
        )
        if limited is not None:
            limit, retry, scope = limited
            refused = _refused(
                ReasonCode.RATE_LIMITED, f"{principal.agent} exceeded {limit} {scope} per minute"
            )
            self.record_decision(principal, action, resource, refused, started)
            raise rate_limited(principal.agent, what, limit, retry, scope=scope)
        return decision

    def record_decision(
        self,
        principal: AgentPrincipal,
        action: str,
        resource: str,
        decision: Decision,
        started: float,
    ) -> None:
        latency_us = (time.perf_counter() - started) * 1e6
        try:
            self.authority.record(principal, action, resource, decision, latency_us)
        except Exception:
            logger.exception("recording activity failed")

    async def forward(
        self,
        ctx: Ctx,
        principal: AgentPrincipal,
        upstream_name: str,
        resource: str,
        request: Any,
        result_type: type[ResultT],
    ) -> ResultT:
        upstream = self.upstreams.get(upstream_name)
        if upstream is None:  # pragma: no cover - the directory only names configured upstreams
            raise unknown("upstream", upstream_name)
        result: ResultT | None = None
        agent = principal.agent

        def abandoned() -> str | None:  # the upstream hears why a cut call was cancelled
            reason = self.sessions.cut_reason(agent)
            return f"Charter cut off agent {agent}: {reason}" if reason else None

        call = Call(principal, upstream_name, resource, ctx.session, ctx.request_id, "")
        call.log_key = connection_key(ctx)
        on_progress: ProgressFnT | None = None
        if ctx.meta and (ctx.meta.get("progress_token") or ctx.meta.get("progressToken")):

            async def relay_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                self.relay.progress(call, progress, total, message)

            on_progress = relay_progress

        with self.sessions.call(agent) as scope, self.relay.calling(call):
            try:
                result = await upstream.request(
                    request, result_type, abandoned=abandoned, progress=on_progress
                )
            except UpstreamError as error:
                raise upstream_failure(error) from None
            finally:
                await self.relay.drain(call)
        if scope.cancelled_caught or result is None:
            raise cut_off(principal.agent, self.sessions.cut_reason(principal.agent) or "cut off")
        return result

    # -- tools -----------------------------------------------------------------------------
    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        entry = self.directory.tool(name)
        return entry.tool.input_schema if entry is not None else None

    async def _list_tools(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = await self.principal(ctx)
        self.relay.listening(connection_key(ctx), principal.agent, ctx.session)
        tools = [
            entry.tool
            for entry in self.directory.tools.values()
            if await self._visible(principal, entry.name, entry.resource)
        ]
        return types.ListToolsResult(tools=tools)

    async def _call_tool(
        self, ctx: Ctx, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        principal = await self.principal(ctx)
        entry = self.directory.tool(params.name)
        if entry is None:
            self.refuse_unknown(principal, "tool", params.name)
        assert entry is not None
        what = f"calling {entry.visible} on {entry.upstream}"
        context = self.context(ctx, "tools/call", entry.upstream, entry.name, params.arguments)
        decision, started = await self.decide(
            ctx, principal, what, entry.name, entry.resource, context
        )
        request = types.CallToolRequest(
            params=types.CallToolRequestParams(name=entry.name, arguments=params.arguments)
        )
        try:
            return await self.forward(
                ctx, principal, entry.upstream, entry.resource, request, types.CallToolResult
            )
        finally:
            self.record_decision(principal, entry.name, entry.resource, decision, started)

    def refuse_unknown(self, principal: AgentPrincipal, kind: str, name: object) -> None:
        """Record and refuse a name nobody offers: nothing is decided upstream or forwarded."""
        shown = safe_name(name, 200)
        decision = _refused(
            ReasonCode.INVALID_REQUEST, f"no {kind} named {shown!r} is offered through this gateway"
        )
        self.record_decision(
            principal, shown or "?", f"gateway:{kind}s/{shown}", decision, time.perf_counter()
        )
        raise unknown(kind, name)

    # -- resources -------------------------------------------------------------------------
    async def _list_resources(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        principal = await self.principal(ctx)
        resources = [
            resource
            for uri, (upstream, resource) in self.directory.resources.items()
            if await self._visible(principal, READ_RESOURCE, resource_of(upstream, uri))
        ]
        return types.ListResourcesResult(resources=resources)

    async def _list_templates(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        principal = await self.principal(ctx)
        shown: list[types.ResourceTemplate] = []
        if principal.in_scope(READ_RESOURCE) and self.sessions.cut_reason(principal.agent) is None:
            _, visibility = await self._view(principal.agent)
            for entry in self.directory.templates:
                target = f"{entry.upstream}:resources/{entry.pattern.text}"
                if visibility.may_allow_some(READ_RESOURCE, parse_pattern(target)):
                    shown.append(entry.template)
        return types.ListResourceTemplatesResult(resource_templates=shown)

    async def _read_resource(
        self, ctx: Ctx, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        principal = await self.principal(ctx)
        uri = str(params.uri)
        upstream = self.directory.resource_owner(uri)
        if upstream is None:
            self.refuse_unknown(principal, "resource", uri)
        assert upstream is not None
        resource = resource_of(upstream, uri)
        context = self.context(ctx, "resources/read", upstream, uri, {"uri": uri})
        decision, started = await self.decide(
            ctx,
            principal,
            f"reading {safe_name(uri)} on {upstream}",
            READ_RESOURCE,
            resource,
            context,
        )
        request = types.ReadResourceRequest(params=types.ReadResourceRequestParams(uri=uri))
        try:
            return await self.forward(
                ctx, principal, upstream, resource, request, types.ReadResourceResult
            )
        finally:
            self.record_decision(principal, READ_RESOURCE, resource, decision, started)

    # -- prompts ---------------------------------------------------------------------------
    async def _list_prompts(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        principal = await self.principal(ctx)
        prompts = [
            entry.prompt
            for entry in self.directory.prompts.values()
            if await self._visible(principal, GET_PROMPT, entry.resource)
        ]
        return types.ListPromptsResult(prompts=prompts)

    async def _get_prompt(
        self, ctx: Ctx, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        principal = await self.principal(ctx)
        entry = self.directory.prompt(params.name)
        if entry is None:
            self.refuse_unknown(principal, "prompt", params.name)
        assert entry is not None
        context = self.context(ctx, "prompts/get", entry.upstream, entry.name, params.arguments)
        what = f"getting prompt {entry.visible} on {entry.upstream}"
        decision, started = await self.decide(
            ctx, principal, what, GET_PROMPT, entry.resource, context
        )
        request = types.GetPromptRequest(
            params=types.GetPromptRequestParams(name=entry.name, arguments=params.arguments)
        )
        try:
            return await self.forward(
                ctx, principal, entry.upstream, entry.resource, request, types.GetPromptResult
            )
        finally:
            self.record_decision(principal, GET_PROMPT, entry.resource, decision, started)

    # -- transports --------------------------------------------------------------------------
    def http_app(self, host: str = "127.0.0.1") -> Starlette:
        """The ASGI app: ``/mcp`` (streamable HTTP, authenticated), RFC 9728 metadata,
        ``/healthz``.
        """
        from charter.gateway.http import build_app

        app, self._manager = build_app(self, host)
        return app

    async def serve_stdio(self, authenticate: Callable[[], Awaitable[AgentPrincipal]]) -> None:
        """Serve one agent over stdin/stdout; ``authenticate`` says who it is on every request.

        The MCP authorization spec leaves stdio to "credentials from the
        environment": the token comes from the environment (or a file kept
        fresh), and is re-checked on every request, so expiry, revocation and
        suspension apply here too.
        """
        self._stdio_auth = authenticate
        async with stdio_server() as (read_stream, write_stream):
            await self.server.run(
                read_stream, write_stream, self.server.create_initialization_options()
            )


def _refused(code: ReasonCode, message: str) -> Decision:
    return Decision(False, reasons=(Reason(code, message),))
