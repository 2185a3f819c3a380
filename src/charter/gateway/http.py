"""The gateway over HTTP: the MCP endpoint behind the resource server, and the well-known files.

``/mcp`` is the SDK's streamable HTTP session manager (SSE responses, so an
upstream's requests and notifications reach the agent during its call, sent as
plain JSON when the result is all there is (:mod:`charter.gateway.lazysse`); the
configured body limit, session limits and idle timeout, DNS-rebinding
protection on loopback) behind :class:`~charter.gateway.auth.ResourceServer`;
``/.well-known/oauth-protected-resource[/mcp]`` is the RFC 9728 document;
``/healthz`` says how many upstreams are ready (not which: names stay inside);
``/readyz`` is 503 until every upstream is ready and, with the local authority,
the store answers at this Charter's schema with the policy loaded. Metrics are
served only on the separate metrics port (``--metrics-port``): the gateway has
no admin sign-in to put them behind.
"""

from __future__ import annotations

import functools
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from charter.gateway.auth import ResourceServer, metadata_url, resource_metadata
from charter.gateway.fastpath import FastPath
from charter.gateway.lazysse import LazyStreams
from charter.gateway.stepup import scope_needed
from charter.http import tracing
from charter.http.metrics_port import serve_metrics
from charter.http.observe import Observe
from charter.services.metrics import registry_for
from charter.services.readiness import Check, Readiness, ReadinessProbe, ServicesMetrics
from charter.version import __version__

if TYPE_CHECKING:
    from charter.gateway.server import Gateway

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def build_app(gateway: Gateway, host: str) -> tuple[Starlette, StreamableHTTPSessionManager]:
    """The ASGI app for ``gateway`` bound on ``host``, and its session manager
    (for the kill switch).
    """
    security = None
    if host in LOCAL_HOSTS:  # DNS-rebinding protection, as the SDK applies for loopback
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    settings = gateway.settings
    manager = StreamableHTTPSessionManager(
        app=gateway.server,
        json_response=not settings.stream_responses,
        security_settings=security,
        max_request_body_size=settings.max_message_bytes,
        session_idle_timeout=settings.session_idle_timeout,
        max_sessions=settings.max_sessions,
    )
    mcp_app: ASGIApp = StreamableHTTPASGIApp(manager)
    if settings.stream_responses:  # SSE only for answers that carry more than their result
        mcp_app = LazyStreams(mcp_app)
    if settings.fast_path:  # allowed calls forwarded as raw bytes, decided here first
        mcp_app = FastPath(mcp_app, gateway, manager)
    endpoint = ResourceServer(
        mcp_app,
        authority=gateway.authority,
        resource=gateway.resource,
        sessions=gateway.sessions,
        on_agent_gone=gateway.cut,
        step_up=functools.partial(scope_needed, gateway),
    )
    document = resource_metadata(gateway.resource, gateway.authority.authorization_servers, None)

    async def metadata(_: Request) -> Response:
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    async def health(_: Request) -> Response:
        states = [upstream.state.value for upstream in gateway.upstreams.values()]
        body = {
            "status": "ok",
            "version": __version__,
            "upstreams": len(states),
            "ready": states.count("ready"),
        }
        return JSONResponse(body)

    services = getattr(gateway.authority, "services", None)  # the local authority's
    probe = ReadinessProbe(services) if services is not None else None

    def readiness() -> Readiness:
        states = [upstream.state.value for upstream in gateway.upstreams.values()]
        ready = states.count("ready")
        checks = [Check("upstreams", ready == len(states), f"{ready} of {len(states)} ready")]
        if probe is not None:
            checks.extend(probe.check().checks)
        return Readiness(tuple(checks))

    async def ready(_: Request) -> Response:
        result = await run_in_threadpool(readiness)
        return JSONResponse(result.to_dict(), status_code=200 if result.ready else 503)

    registry = registry_for(ServicesMetrics(services) if services is not None else None)

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        stop_metrics = serve_metrics(registry)
        try:
            async with manager.run():
                yield
        finally:
            if stop_metrics is not None:
                stop_metrics()
            tracing.shutdown()

    well_known = {
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        urlsplit(metadata_url(gateway.resource)).path,
    }
    routes = [
        Route("/mcp", endpoint=endpoint),
        Route("/healthz", health, methods=["GET"]),
        Route("/readyz", ready, methods=["GET"]),
    ]
    routes += [Route(path, metadata, methods=["GET"]) for path in sorted(well_known)]
    tracing.configure("charter-gateway")  # only when OTEL_EXPORTER_OTLP_ENDPOINT asks
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(Observe)
    return app, manager
