"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from charter.domain.charter_parsing import field_path
from charter.errors import CharterError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://charter.dev/problems/"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    field: str | None = None,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if field:
        body["field"] = field
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def charter_problem(request: Request, exc: CharterError) -> JSONResponse:
    """The problem document for a :class:`CharterError` (routed and direct endpoints alike)."""
    return problem(
        exc.status,
        type(exc).__name__,
        exc.message,
        code=exc.code,
        field=exc.field,
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(CharterError)
    async def _charter_error(request: Request, exc: CharterError) -> JSONResponse:
        return charter_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": field_path(tuple(p for p in e["loc"] if p != "body")),
                "message": e["msg"].removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
        first = errors[0]["field"] if errors else None
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(
            422,
            "InvalidInput",
            detail,
            code="invalid-input",
            field=first,
            instance=request.url.path,
            extra={"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(
            exc.status_code,
            "HTTPError",
            str(exc.detail),
            code=f"http-{exc.status_code}",
            instance=request.url.path,
        )
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response
