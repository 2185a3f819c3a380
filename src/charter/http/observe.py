"""Each HTTP request observed once: its request id, its latency, its trace span.

:class:`Observe` is the outermost ASGI middleware of the server and the gateway:

* the request id is the caller's ``X-Request-ID`` when it is safe to echo
  (:func:`~charter.http.request_id.echoable_request_id`), else a fresh one; it is
  in :data:`REQUEST_ID` for the request's log lines (``--log-format json``);
* the latency lands in ``charter_request_duration_seconds`` under the endpoint's
  kind (a fixed set, never the raw path);
* when tracing is on (:mod:`charter.http.tracing`), a server span, continued from
  the caller's ``traceparent``.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charter.http import tracing
from charter.http.request_id import echoable_request_id
from charter.services.metrics import REQUESTS

#: The current request's id ("-" outside a request), for log records.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("charter_request_id", default="-")

_KINDS = ("authzen", "token", "api", "mcp", "meta", "console")
_TIMERS = {kind: REQUESTS.labels(kind) for kind in _KINDS}
_META = frozenset({"/healthz", "/readyz", "/metrics"})
#: One line per request at DEBUG (``--log-level debug``): method, path, status, milliseconds.
access_log = logging.getLogger("charter.access")


def endpoint_kind(path: str) -> str:
    """The metrics label of ``path``: one of a fixed few, so paths never become labels."""
    if path == "/access" or path.startswith("/access/"):
        return "authzen"
    if path == "/oauth/token":
        return "token"
    if path.startswith("/v1/"):
        return "api"
    if path == "/mcp" or path.startswith("/mcp/"):
        return "mcp"
    if path in _META:
        return "meta"
    return "console"


class Observe:
    """Request id, latency histogram and (when on) a trace span around every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = echoable_request_id(headers.get("x-request-id")) or os.urandom(8).hex()
        token = REQUEST_ID.set(request_id)
        kind = endpoint_kind(scope["path"])
        started = time.perf_counter()
        tracer = tracing.tracer()
        status = [500]
        if access_log.isEnabledFor(logging.DEBUG):
            send = _status_into(send, status)
        try:
            if tracer is None:
                await self.app(scope, receive, send)
            else:
                await self._traced(tracer, scope, receive, send, headers, request_id, kind)
        finally:
            elapsed = time.perf_counter() - started
            _TIMERS[kind].observe(elapsed)
            if access_log.isEnabledFor(logging.DEBUG):
                access_log.debug(
                    "%s %s %d %.1fms", scope["method"], scope["path"], status[0], elapsed * 1e3
                )
            REQUEST_ID.reset(token)

    async def _traced(
        self,
        tracer: Any,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Headers,
        request_id: str,
        kind: str,
    ) -> None:
        from opentelemetry import propagate, trace

        method = scope["method"]
        carrier = dict(headers.items())
        attributes = {
            "http.request.method": method,
            "url.path": scope["path"],
            "charter.request_id": request_id,
            "charter.endpoint": kind,
        }
        with tracer.start_as_current_span(
            f"{method} {kind}",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(trace.Status(trace.StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, traced_send)


def _status_into(send: Send, status: list[int]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            status[0] = int(message["status"])
        await send(message)

    return sending


__all__ = ["REQUEST_ID", "Observe", "endpoint_kind"]
