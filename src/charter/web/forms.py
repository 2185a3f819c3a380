"""What every console route shares: CSRF-checked forms, roles, errors shown as pages.

CSRF (OWASP's synchronizer token pattern): each session has a random token;
every form carries it in a hidden ``csrf_token`` field and every POST handler
takes its form through :func:`csrf_form`, which refuses a missing or wrong
token and a foreign ``Origin``. A test walks every POST route of the console
and expects the refusal, so a new form cannot forget it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.responses import Response

from charter.domain.charter_parsing import MAX_CHARTER_BYTES
from charter.errors import CharterError, InvalidInput, PermissionDenied
from charter.http.security import principal_dep, same_origin
from charter.services.auth import Principal, UserRole
from charter.web.templating import render

#: The largest file a console form accepts (a charter upload).
MAX_UPLOAD_BYTES = MAX_CHARTER_BYTES


class CsrfRefused(PermissionDenied):
    code = "csrf"


async def csrf_form(request: Request) -> FormData:
    """The posted form, after checking its CSRF token and origin."""
    principal = principal_dep(request)
    try:
        form = await request.form(max_files=2, max_fields=200, max_part_size=MAX_UPLOAD_BYTES)
    except HTTPException as exc:  # Starlette's MultiPartException, as it re-raises it in an app
        if exc.status_code != 400:
            raise
        raise InvalidInput(f"the form could not be read: {exc.detail}", field="form") from exc
    token = form.get("csrf_token")
    if (
        not isinstance(token, str)
        or not principal.csrf
        or not hmac.compare_digest(token.encode(), principal.csrf.encode())
        or not same_origin(request.headers, request.url.scheme)
    ):
        raise CsrfRefused(
            "the form's security token is missing or wrong; reload the page and try again",
            field="csrf_token",
        )
    return form


FormDep = Annotated[FormData, Depends(csrf_form)]
PrincipalDep = Annotated[Principal, Depends(principal_dep)]


def field(form: FormData, name: str, *, required: bool = True, limit: int = 2000) -> str:
    value = form.get(name)
    if value is None or not isinstance(value, str):
        if required:
            raise InvalidInput(f"{name} is required", field=name)
        return ""
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{name} is required", field=name)
    if len(value) > limit:
        raise InvalidInput(f"{name} may be at most {limit} characters", field=name)
    return value


E = TypeVar("E", bound=StrEnum)


def choice(kind: type[E], value: str, *, name: str) -> E | None:
    """An optional enum from a query string: "" (a filter's "any") means None."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(f"{name} is one of: {allowed}", field=name) from exc


def require_role(principal: Principal, *roles: UserRole) -> None:
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise PermissionDenied(f"this page is for: {allowed}", field="role")


class ConsoleRoute(APIRoute):
    """Errors on console routes become readable pages, not problem JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except CharterError as exc:
                return error_page(request, exc.status, type(exc).__name__, str(exc))
            except RequestValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
                )
                return error_page(request, 422, "InvalidInput", detail)

        return handler


def error_page(request: Request, status: int, title: str, detail: str) -> Response:
    headings = {
        401: "Please sign in",
        403: "Not allowed",
        404: "Not found",
        409: "That cannot be done now",
        413: "Too large",
        422: "Please check the input",
        429: "Too many attempts",
    }
    return render(
        request,
        "error.html",
        {"status": status, "heading": headings.get(status, title), "detail": detail},
        status=status,
        title=headings.get(status, "Error"),
    )
