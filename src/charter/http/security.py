"""Who may call what: one authentication and authorization layer in front of every route.

Every request falls in exactly one zone, decided by its path alone:

================  ====================================================  ============================
zone              paths                                                 needs
================  ====================================================  ============================
open              ``/healthz``, ``/readyz``, ``/docs``, ``/redoc``,     nothing (the OAuth endpoints
                  ``/openapi.json``, ``/.well-known/*``, ``/oauth/*``,  keep their own client
                  ``/login``, ``/login/*``, ``/static/*``,              authentication; ``/ssf/*``
                  ``/favicon.ico``, ``/ssf/*`` (SSF poll, IdP push)     a stream's bearer token or a
                                                                        signed SET)
pdp               ``/access/*`` (AuthZEN)                               a PEP key as bearer
api               ``/v1/*`` (management API), ``/metrics``              a personal API token as
                                                                        bearer, or a console
                                                                        session (+ ``X-CSRF-Token``
                                                                        on writes)
console           everything else                                       a console session; anonymous
                                                                        visitors are sent to /login
================  ====================================================  ============================

Unknown paths are *console* paths, so a route someone adds later is closed
until they decide otherwise (fail closed).

Roles on ``/v1`` (checked here, centrally, before any router runs); ``/metrics``
is for admins only (or on the separate ``--metrics-port``):

- ``admin``: everything.
- ``auditor``: reads (GET, HEAD, OPTIONS) anywhere under ``/v1``; never a write.
- ``owner``: only the prefixes in :data:`OWNER_API_PREFIXES`, and the routers
  behind them must resolve every agent, finding, review item or request they
  take through :class:`~charter.services.owner_reach.OwnerReach` (``ReachDep``;
  the one owner check, shared with the console) and scope listings with its
  ``scope``. A capability that wants owners on its routes adds a line there
  once its router does; until then owners get 403 (fail closed). A test walks
  every route with another owner's objects (``test_owner_reach.py``).

The authenticated :class:`~charter.services.auth.Principal` lands in
``request.state.principal``; ``http.deps.actor_dep`` names it in audit events.
Responses also get the usual hardening headers (RFC 6797 is the proxy's job):
``nosniff``, ``frame-ancestors 'none'``, a strict Content-Security-Policy on
console pages, and ``Cache-Control: no-store`` on anything behind a sign-in.
"""

from __future__ import annotations

import hmac
from enum import StrEnum
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charter.errors import NotFound, PermissionDenied, Unauthenticated
from charter.http.deps import services_dep
from charter.http.problems import problem
from charter.http.request_id import echoable_request_id
from charter.services.auth import Principal, UserRole, Via
from charter.services.context import Services
from charter.services.owner_reach import OwnerReach, reaches

__all__ = [
    "CSRF_HEADER",
    "OWNER_API_PREFIXES",
    "SESSION_COOKIE",
    "PrincipalDep",
    "ReachDep",
    "SecurityMiddleware",
    "Zone",
    "api_refusal",
    "may_transition",
    "principal_dep",
    "reach_dep",
    "require_owns",
    "require_transition",
    "visible_owner",
    "zone_of",
]

SESSION_COOKIE = "charter_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Prometheus metrics on the public port: an admin's API token (or the separate metrics port).
METRICS_PATH = "/metrics"

_OPEN_EXACT = frozenset(
    {
        "/healthz",
        "/readyz",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/login",
        "/favicon.ico",
    }
)
_OPEN_PREFIXES = ("/.well-known/", "/oauth/", "/login/", "/static/", "/ssf/")

#: ``/v1`` prefixes an *owner* may call, with the methods (None: all). The router
#: behind each must scope to the owner's own agents (see module docstring).
OWNER_API_PREFIXES: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("/v1/agents", None),  # api/agents.py: every route scoped with require_owns/visible_owner
    ("/v1/people", SAFE_METHODS),  # reading the directory, to pick a new owner
    # api/governance.py: each route scopes to the owner's findings, reviews, requests, plans
    ("/v1/findings", None),
    ("/v1/reviews", None),
    ("/v1/access-requests", None),
    ("/v1/changes", None),  # api/changes.py: the owner's proposals and those they may approve
    ("/v1/decommissions", None),
    ("/v1/rotations", None),
    ("/v1/tasks", None),
    ("/v1/notices", SAFE_METHODS),
    ("/v1/inbox", SAFE_METHODS),  # api/governance_workflows.py: an owner's is their own
)

#: Under an owner prefix, but for admins only: estate-wide work.
ADMIN_ONLY_API: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("/v1/findings/evaluate", None),  # evaluates every rule over the whole estate
)

_CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class Zone(StrEnum):
    OPEN = "open"
    PDP = "pdp"
    API = "api"
    CONSOLE = "console"


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def zone_of(path: str) -> Zone:
    if path in _OPEN_EXACT or path.startswith(_OPEN_PREFIXES):
        return Zone.OPEN
    if _under(path, "/access"):
        return Zone.PDP
    if _under(path, "/v1") or path == METRICS_PATH:
        return Zone.API
    return Zone.CONSOLE


def api_refusal(principal: Principal, method: str, path: str) -> str | None:
    """Why ``principal`` may not call ``method path`` under /v1, or None if it may."""
    if principal.role == UserRole.ADMIN:
        return None
    if path == METRICS_PATH:
        return "only an admin may read the metrics"
    if principal.role == UserRole.AUDITOR:
        return None if method in SAFE_METHODS else "auditors have read-only access"
    if principal.role == UserRole.OWNER:
        for prefix, methods in ADMIN_ONLY_API:
            if _under(path, prefix) and (methods is None or method in methods):
                return "only an admin may do this"
        for prefix, methods in OWNER_API_PREFIXES:
            if _under(path, prefix) and (methods is None or method in methods):
                return None
        return "owners may use the API only for their own agents, findings, reviews and tasks"
    return "this credential cannot use the management API"


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def same_origin(headers: Headers, scheme: str) -> bool:
    """A state-changing browser request must come from our own pages.

    Browsers send ``Origin`` on every cross-site (and same-site) POST; when it
    is absent (old clients, some privacy settings) the CSRF token still has to
    match, so absence alone is not a refusal.
    """
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = headers.get("host", "")
    parts = urlsplit(origin)
    return parts.netloc == host and parts.scheme in (scheme, "http", "https")


class SecurityMiddleware:
    """Authenticate, then authorize by zone and role; pure ASGI, so it stays cheap."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        zone = zone_of(path)
        headers = Headers(scope=scope)
        send = self._hardened(send, zone, path, _echoed_request_id(zone, headers))
        if zone == Zone.OPEN:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        refusal: Response | None
        if zone == Zone.PDP or (zone == Zone.API and _bearer(headers) is not None):
            # bearer checks are cached in memory: no thread hop on the hot path
            principal, refusal = self._authenticate(zone, method, path, headers, scope)
        else:  # a session lookup reads the store: keep it off the event loop
            principal, refusal = await run_in_threadpool(
                self._authenticate, zone, method, path, headers, scope
            )
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _authenticate(
        self, zone: Zone, method: str, path: str, headers: Headers, scope: Scope
    ) -> tuple[Principal | None, Response | None]:
        keys = self.services.auth.keys
        if zone == Zone.PDP:
            bearer = _bearer(headers)
            principal = keys.authenticate(bearer) if bearer else None
            if principal is None or principal.via != Via.PEP_KEY:
                return None, _unauthorized(
                    path,
                    "the AuthZEN endpoints need a PEP key: 'Authorization: Bearer chpep_…' "
                    "(create one with 'charter pep add NAME')",
                    bearer is not None,
                )
            return principal, None
        bearer = _bearer(headers) if zone == Zone.API else None
        if bearer is not None:
            principal = keys.authenticate(bearer)
            if principal is None or principal.via != Via.API_TOKEN:
                return None, _unauthorized(
                    path, "the API token is unknown, expired or revoked", True
                )
        else:
            token = _cookie(headers, SESSION_COOKIE)
            principal = self.services.auth.resolve_session(token) if token else None
            if principal is None:
                if zone == Zone.CONSOLE:
                    return None, _to_login(scope)
                return None, _unauthorized(
                    path,
                    "sign in, or send a personal API token: 'Authorization: Bearer chpat_…' "
                    "(create one with 'charter api-tokens create')",
                    False,
                )
            if zone == Zone.API and method not in SAFE_METHODS:
                sent = headers.get(CSRF_HEADER, "")
                if not same_origin(headers, scope.get("scheme", "http")) or not _equal(
                    sent, principal.csrf
                ):
                    return None, problem(
                        403,
                        "CSRFRefused",
                        "a missing or wrong CSRF token",
                        code="csrf",
                        instance=path,
                    )
        if zone == Zone.API:
            reason = api_refusal(principal, method, path)
            if reason is not None:
                return None, problem(
                    403, "PermissionDenied", reason, code="forbidden", instance=path
                )
        return principal, None

    def _hardened(self, send: Send, zone: Zone, path: str, request_id: bytes | None) -> Send:
        console = zone == Zone.CONSOLE or path == "/login" or path.startswith("/login/")
        private = zone != Zone.OPEN or path == "/login"

        async def hardened_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if console:
                    extra.append((b"content-security-policy", _CONSOLE_CSP.encode()))
                if private:
                    extra.append((b"cache-control", b"no-store"))
                if request_id is not None:  # refusals too, so a PEP can match them up
                    extra.append((b"x-request-id", request_id))
                raw.extend((k, v) for k, v in extra if k not in present)
                message = {**message, "headers": raw}
            await send(message)

        return hardened_send


def _echoed_request_id(zone: Zone, headers: Headers) -> bytes | None:
    """AuthZEN §10.1: a PDP answer carries the PEP's ``X-Request-ID`` back, 401s included."""
    if zone != Zone.PDP:
        return None
    request_id = echoable_request_id(headers.get("x-request-id"))
    return request_id.encode() if request_id else None


def _equal(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def _unauthorized(path: str, detail: str, presented: bool) -> Response:
    """401 with an RFC 6750 §3 challenge (``invalid_token`` when one was sent)."""
    challenge = 'Bearer realm="charter"'
    if presented:
        challenge += ', error="invalid_token"'
    response = problem(401, "Unauthenticated", detail, code="unauthenticated", instance=path)
    response.headers["www-authenticate"] = challenge
    return response


def _to_login(scope: Scope) -> Response:
    target = scope["path"]
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    if scope["method"] not in SAFE_METHODS:
        target = "/"  # never replay a write after sign-in
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


# -- for routers --------------------------------------------------------------------
def principal_dep(request: Request) -> Principal:
    """The caller; the middleware guarantees one on every non-open route."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthenticated("sign in first")
    return principal


PrincipalDep = Annotated[Principal, Depends(principal_dep)]


def reach_dep(request: Request, principal: PrincipalDep) -> OwnerReach:
    """The caller's owner reach: resolve every agent, finding, item or request through it."""
    return OwnerReach(services_dep(request), principal)


ReachDep = Annotated[OwnerReach, Depends(reach_dep)]


def visible_owner(principal: Principal) -> str | None:
    """The one owner whose agents ``principal`` may see; None means all of them."""
    return principal.owner_scope


def require_owns(principal: Principal, owner: str, *, name: str, what: str = "agent") -> None:
    """Refuse another owner's agent exactly as a missing name (:func:`reaches` decides).

    For agents by name; other objects go through :class:`OwnerReach`, whose refusals
    repeat each service's own not-found answer.
    """
    if not reaches(principal, owner):
        raise NotFound(f"no {what} named {name!r}", field="name")


def require_writer(principal: Principal) -> None:
    if not principal.may_write:
        raise PermissionDenied("auditors have read-only access", field="role")


#: Lifecycle moves an owner may make on their own agents. Activating (and
#: proposing) is an approval, so it stays with admins: nobody approves themselves.
OWNER_TRANSITIONS = frozenset({"suspend", "resume", "decommission"})


def may_transition(principal: Principal, transition: str) -> bool:
    if principal.is_admin:
        return True
    return principal.role == UserRole.OWNER and transition in OWNER_TRANSITIONS


def require_transition(principal: Principal, transition: str) -> None:
    if not may_transition(principal, transition):
        raise PermissionDenied(
            f"only an admin may {transition} an agent (an owner cannot approve their own)",
            field="transition",
        )
