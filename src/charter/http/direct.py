"""The hot endpoints answered without FastAPI's router, inside every other middleware.

A decision (``POST /access/v1/evaluation``) or a token (``POST /oauth/token``)
costs a PEP or an agent one round trip per call, so the server's CPU per request
is the figure that matters. Their endpoints take the bare ``Request`` and build
their own ``Response``: they use nothing FastAPI adds per request (dependency
solving, the exception middleware's and the exit stack's wrapping, the linear
route scan), which together cost more CPU than the AuthZEN decision itself.

:class:`DirectRoutes` sits innermost, so each request it answers has already
passed through every other middleware: method and size limits, the security
middleware (authentication, zones, the request id, hardening headers). It
matches an exact method and path only; anything else (another method on the
same path, a trailing slash) goes on to the router unchanged. A
:class:`~charter.errors.CharterError` an endpoint raises becomes the same
problem document the app's handler makes; anything else propagates to the
server-error middleware (500), as it would from a routed endpoint. The routes
stay registered with FastAPI too, for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from charter.errors import CharterError
from charter.http.problems import charter_problem

Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoutes:
    """Pure ASGI: ``(method, path) -> endpoint`` answered here, the rest passed on."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            self.routes.get((scope["method"], _route_path(scope)))
            if scope["type"] == "http"
            else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except CharterError as error:
            response = charter_problem(request, error)
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the router would match: without a ``root_path`` the server was given."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path
