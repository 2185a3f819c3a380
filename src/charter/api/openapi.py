"""The OpenAPI document, made to state what the routes really answer.

FastAPI documents a route's success and its own 422 shape. Charter answers more,
from layers the route never sees: the security middleware (401, 403), the input
limits (400 for nesting, 413 for size), the problem handlers (RFC 9457
``application/problem+json`` for every error, 422 included) and the OAuth
endpoints' RFC 6749 §5.2 errors (``application/json``). This adds those to every
operation by the zone its path is in (``api/security.py``), so clients and the
schemathesis run in ``make test`` hold the server to the document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from charter.domain.nesting import MAX_DEPTH
from charter.http.problems import PROBLEM_MEDIA_TYPE
from charter.http.security import Zone, zone_of

WRITES = frozenset({"post", "put", "patch", "delete"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": "string", "description": "the input field at fault"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 6749 §5.2 error response",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}

WHY = {
    400: f"Malformed input: not JSON, nested deeper than {MAX_DEPTH} levels, or a bad value",
    401: "No credential, or an unknown, expired or revoked one",
    403: "The caller's role may not do this (or a console write without its CSRF token)",
    404: "No such object (another owner's objects answer the same)",
    409: "Conflicts with what is stored: a duplicate, a stale version, a lifecycle move",
    413: "The body, or a field of it, is larger than its limit",
    422: "A field is invalid; the problem names it",
}


def _problem(status: int) -> dict[str, Any]:
    return {
        "description": WHY[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _statuses(zone: Zone, path: str, method: str) -> set[int]:
    """The problem statuses an operation can answer, by zone and method."""
    write = method in WRITES
    if zone == Zone.API:
        statuses = {401, 403, 404, 422}  # 404: a path or a filter can name what is not there
        if write:
            statuses |= {400, 409, 413}
        return statuses
    if zone == Zone.PDP:
        return {400, 401, 413}
    return {400, 413} if write else set()  # open: the input limits still apply


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Add every status and media type the middleware and handlers answer with."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["OAuthError"] = OAUTH_ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)  # FastAPI's 422 shape: ours is a problem
    security = components.setdefault("securitySchemes", {})
    security["apiToken"] = {"type": "http", "scheme": "bearer", "description": "chpat_…"}
    security["pepKey"] = {"type": "http", "scheme": "bearer", "description": "chpep_…"}
    for path, operations in document.get("paths", {}).items():
        zone = zone_of(path)
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(zone, path, method)):
                responses[str(status)] = _problem(status)
            if zone == Zone.API:
                operation["security"] = [{"apiToken": []}]
            elif zone == Zone.PDP:
                operation["security"] = [{"pepKey": []}]
            elif path.startswith("/oauth/") and method in WRITES:
                _oauth_errors(responses)
            elif path.startswith("/ssf/") and method in WRITES:
                _ssf_errors(responses)
    return document


def _oauth_errors(responses: dict[str, Any]) -> None:
    """RFC 6749 §5.2 errors as ``application/json``; the input limits still answer problems."""
    oauth = {"schema": {"$ref": "#/components/schemas/OAuthError"}}
    for status in (400, 401, 403):
        entry = responses.setdefault(str(status), {"description": "OAuth error", "content": {}})
        entry["content"]["application/json"] = oauth


def _ssf_errors(responses: dict[str, Any]) -> None:
    """RFC 8935 §2.4 / RFC 8936 errors (``{"err", "description"}``) as ``application/json``;
    a poll request's own fields answer problems (422)."""
    error = {
        "schema": {
            "type": "object",
            "required": ["err"],
            "properties": {"err": {"type": "string"}, "description": {"type": "string"}},
        }
    }
    for status in (400, 401):
        entry = responses.setdefault(str(status), {"description": "SET error", "content": {}})
        entry["content"]["application/json"] = error
    responses["422"] = _problem(422)


def truthful_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` that builds FastAPI's document once, then adds what it leaves out."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = document_problems(document)
        return app.openapi_schema

    return openapi
