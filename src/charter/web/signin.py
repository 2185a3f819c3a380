"""``/login``, ``/logout`` and OpenID Connect sign-in.

The session cookie is ``HttpOnly`` (scripts cannot read it), ``SameSite=Lax``
(other sites' forms and subresources do not carry it; Lax rather than Strict so
the redirect back from an identity provider still signs the person in), scoped
to ``/``, and ``Secure`` whenever the console is served over https. The sign-in
form itself is protected against login CSRF with a double-submit token (a
random value in a short-lived cookie and in the form, which must match).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from charter.errors import Unauthenticated
from charter.http.deps import services_dep
from charter.http.security import SESSION_COOKIE
from charter.services.auth import (
    SESSION_LIFETIME,
    SessionGrant,
    TooManyAttempts,
)
from charter.services.oidc_requests import OidcRequest
from charter.web.forms import ConsoleRoute, FormDep
from charter.web.oidc import OidcClient, OidcSettings, pkce_pair
from charter.web.templating import render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

LOGIN_CSRF_COOKIE = "charter_login_csrf"
_oidc_lock = threading.Lock()


def safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no ``//`` or ``/\\`` tricks."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\r\n\t") or target.startswith("/login"):
        return "/"
    return target[:2000]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def oidc_client(request: Request) -> OidcClient | None:
    state = request.app.state
    with _oidc_lock:
        if not hasattr(state, "oidc"):
            settings = OidcSettings.from_env()
            state.oidc = OidcClient(settings) if settings else None
            if state.oidc is not None and hasattr(state, "shutdown_hooks"):
                state.shutdown_hooks.append(state.oidc.close)
    client: OidcClient | None = state.oidc
    return client


def _login_page(
    request: Request,
    *,
    next_url: str,
    error: str | None = None,
    status: int = 200,
    email: str = "",
) -> Response:
    # one token per browser (cookie), so several tabs and a failed attempt keep working
    existing = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    token = existing if 40 <= len(existing) <= 64 else secrets.token_urlsafe(32)
    client = oidc_client(request)
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "next_url": next_url,
            "error": error,
            "email": email,
            "oidc_label": client.settings.label if client else None,
        },
        status=status,
        title="Sign in",
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


def _signed_in(request: Request, grant: SessionGrant, next_url: str) -> Response:
    response = RedirectResponse(safe_next(next_url), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        grant.token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    services = services_dep(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token and services.auth.resolve_session(token) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    next_url = safe_next(next)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not csrf_token or not hmac.compare_digest(cookie, csrf_token):
        return _login_page(
            request,
            next_url=next_url,
            status=403,
            email=email,
            error="The sign-in form expired; please try again.",
        )
    client = request.client.host if request.client else "unknown"
    try:
        grant = services_dep(request).auth.sign_in(email, password, client=client)
    except TooManyAttempts as exc:
        response = _login_page(
            request, next_url=next_url, error=exc.message, status=429, email=email
        )
        response.headers["retry-after"] = str(exc.retry_after)
        return response
    except Unauthenticated:
        return _login_page(
            request, next_url=next_url, status=401, email=email, error="Wrong e-mail or password."
        )
    return _signed_in(request, grant, next_url)


@router.post("/logout")
def logout(request: Request, form: FormDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services_dep(request).auth.end_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request)
    )
    return response


def _redirect_uri(request: Request, client: OidcClient) -> str:
    return client.settings.redirect_url or str(request.url_for("oidc_callback"))


@router.get("/login/oidc")
def oidc_start(request: Request, next: str = "/") -> Response:
    client = oidc_client(request)
    if client is None:
        return _login_page(
            request,
            next_url="/",
            status=404,
            error="Single sign-on is not configured on this server.",
        )
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    try:
        url = client.authorization_url(
            redirect_uri=_redirect_uri(request, client),
            state=state,
            nonce=nonce,
            code_challenge=challenge,
        )
    except Unauthenticated as exc:
        return _login_page(request, next_url=safe_next(next), status=502, error=exc.message)
    services_dep(request).auth.oidc_requests.save(
        state, OidcRequest(verifier, nonce, safe_next(next))
    )
    return RedirectResponse(url, status_code=303)


@router.get("/login/oidc/callback", name="oidc_callback")
def oidc_callback(
    request: Request, code: str = "", state: str = "", error: str = "", iss: str | None = None
) -> Response:
    client = oidc_client(request)
    if client is None:
        return _login_page(
            request,
            next_url="/",
            status=404,
            error="Single sign-on is not configured on this server.",
        )
    services = services_dep(request)
    pending = services.auth.oidc_requests.take(state)
    if error or pending is None or not code:
        reason = (
            f"the identity provider said: {error[:200]}"
            if error
            else ("this sign-in link expired or was already used")
        )
        return _login_page(
            request, next_url="/", status=401, error=f"Single sign-on failed: {reason}."
        )
    try:
        client.check_response_issuer(iss)
        id_token = client.exchange(
            code=code[:2000],
            code_verifier=pending.code_verifier,
            redirect_uri=_redirect_uri(request, client),
        )
        claims = client.verify_id_token(id_token, nonce=pending.nonce)
        grant = services.auth.start_session(client.email_of(claims), method="oidc")
    except Unauthenticated as exc:
        return _login_page(
            request, next_url="/", status=401, error=f"Single sign-on failed: {exc.message}"
        )
    return _signed_in(request, grant, pending.next_url)
