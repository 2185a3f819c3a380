"""The HTTP application ``charter serve`` runs: the API, the console, the standard endpoints.

It is composed here, above :mod:`charter.api` and :mod:`charter.web`, because it
is the one place that needs both: the API and the console are siblings over the
same services and the same :mod:`charter.http` middleware, and neither imports the
other. Uvicorn builds it with ``charter.server:create_app`` (a factory, so each
worker process opens its own store).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from charter.api import (
    agents,
    audit,
    authzen,
    authzen_search,
    changes,
    estate,
    governance,
    oauth,
    people,
    ssf,
    whatif,
)
from charter.api.openapi import truthful_openapi
from charter.domain.tokens.metadata import TOKEN_PATH
from charter.http import tracing
from charter.http.direct import DirectRoutes, Endpoint
from charter.http.limits import BodySizeLimit, JsonDepthLimit, UnknownMethods
from charter.http.metrics_port import serve_metrics
from charter.http.observe import Observe
from charter.http.problems import install_problem_handlers
from charter.http.security import SecurityMiddleware
from charter.services.context import Services, process_services
from charter.services.metrics import registry_for
from charter.services.readiness import ReadinessProbe, ServicesMetrics
from charter.version import __version__
from charter.web import router as web_router


def direct_routes() -> dict[tuple[str, str], Endpoint]:
    """The endpoints :class:`DirectRoutes` answers: a decision, a batch, a token."""
    return {
        ("POST", "/access/v1/evaluation"): authzen.evaluation,
        ("POST", "/access/v1/evaluations"): authzen.evaluations,
        ("POST", TOKEN_PATH): oauth.token,
    }


def create_app(services: Services | None = None) -> FastAPI:
    """The app over ``services``; without them, over the process's own, closed at shutdown."""
    owned = services is None
    services = services or process_services()
    tracing.configure("charter-server")  # only when OTEL_EXPORTER_OTLP_ENDPOINT asks
    registry = registry_for(ServicesMetrics(services))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything imported and built at start-up lives as long as the server: move it out
        # of the collector's sight, so a full collection does not rescan it on every request.
        gc.collect()
        gc.freeze()
        sender = services.ssf.sender()  # pushes SETs to receivers, off every write path
        sender.start()
        app.state.shutdown_hooks.append(sender.stop)
        stop_metrics = serve_metrics(registry)
        yield
        if stop_metrics is not None:
            stop_metrics()
        for hook in app.state.shutdown_hooks:
            hook()
        tracing.shutdown()  # send the spans still buffered
        if owned:
            services.close()
            process_services.cache_clear()  # never hand out a closed container

    app = FastAPI(
        title="Charter",
        version=__version__,
        description="Identity and access control plane for AI agents.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry bridge looks up three global providers on every
        # request, hot paths included; Charter's own tracing and metrics do not need it.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.services = services
    app.state.shutdown_hooks = []  # callables run on clean shutdown (e.g. flush activity)
    install_problem_handlers(app)
    # Innermost: the hot endpoints, answered without the router once every check has run.
    app.add_middleware(DirectRoutes, routes=direct_routes())
    app.add_middleware(JsonDepthLimit)  # inside the size limit, which counts what it reads
    app.add_middleware(BodySizeLimit)
    # Outermost: who is calling, and may they (sign-in, roles, PEP keys).
    app.add_middleware(SecurityMiddleware, services=services)
    app.add_middleware(UnknownMethods)  # TRACE and the like: 405, not a sign-in prompt
    app.add_middleware(Observe)  # request id, latency, trace span: around everything
    app.openapi = truthful_openapi(app)  # type: ignore[method-assign]

    # The hot paths first (AuthZEN decisions, then the token endpoint): route matching
    # is a linear scan, and each router passed over costs every request a few µs.
    app.include_router(authzen.router)
    app.include_router(authzen_search.router)  # AuthZEN Search API, next to evaluation
    app.include_router(oauth.router)
    app.include_router(agents.router)
    app.include_router(people.router)
    app.include_router(audit.router)
    # Capabilities include their routers here, one line each.
    # -- routers --
    app.include_router(web_router)  # the console at /
    app.include_router(estate.router)  # identities, credentials, map, shadow
    app.include_router(governance.router)  # findings, posture, reviews, JIT, lifecycle
    app.include_router(changes.router)  # proposals waiting for a second person
    app.include_router(whatif.router)  # recorded activity replayed against a proposal
    app.include_router(ssf.router)  # Shared Signals: SSF metadata, streams, poll, IdP push
    # -- end routers --

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        """Alive: the process answers (it says nothing about the store)."""
        return {"status": "ok", "version": __version__}

    probe = ReadinessProbe(services)

    @app.get("/readyz", tags=["meta"])
    async def readyz() -> JSONResponse:
        """Ready for traffic: the store answers, its schema is current, the policy is loaded."""
        readiness = await run_in_threadpool(probe.check)
        return JSONResponse(readiness.to_dict(), status_code=200 if readiness.ready else 503)

    app.state.metrics_registry = registry  # also served on --metrics-port

    @app.get("/metrics", tags=["meta"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics (text format); admins only on this port (docs/operations.md)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
