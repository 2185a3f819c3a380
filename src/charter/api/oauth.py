"""The OAuth 2.0 endpoints of the security token service, and its well-known documents.

* ``POST /oauth/token`` — client credentials and token exchange (RFC 6749 §4.4,
  RFC 8693), ``private_key_jwt`` (RFC 7523), DPoP (RFC 9449), ``resource``
  (RFC 8707). Errors are RFC 6749 §5.2 JSON, not problem documents.
* ``POST /oauth/introspect`` (RFC 7662) and ``POST /oauth/revoke`` (RFC 7009),
  for authenticated clients.
* ``POST /oauth/register`` — an agent redeems its one-time enrolment code and
  registers its public key (RFC 7591, the code as initial access token).
* ``GET /.well-known/jwks.json`` (RFC 7517) and
  ``GET /.well-known/oauth-authorization-server`` (RFC 8414).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from charter.domain.tokens.errors import OAuthError, OAuthErrorCode, invalid_request
from charter.domain.tokens.metadata import (
    INTROSPECTION_PATH,
    JWKS_PATH,
    METADATA_PATH,
    REGISTRATION_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
)
from charter.domain.tokens.requests import TokenRequest
from charter.http.deps import actor_dep, services_dep
from charter.services.auth import UserRole, Via
from charter.services.context import Services
from charter.services.tokens.client_metadata import is_metadata_url

router = APIRouter(tags=["oauth"])
ServicesDep = Annotated[Services, Depends(services_dep)]

FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_REGISTRATION_BYTES = 64 * 1024

_FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            FORM: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
        },
    }
}


def oauth_error(error: OAuthError) -> JSONResponse:
    """RFC 6749 §5.2: ``{"error", "error_description"}`` with the code's HTTP status."""
    headers = {**NO_STORE, **error.headers}
    if error.status == 401 and error.error == OAuthErrorCode.INVALID_TOKEN:
        headers["WWW-Authenticate"] = f'Bearer error="{error.error.value}"'
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def _form(request: Request) -> TokenRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise invalid_request(f"send the parameters as {FORM}", reason="wrong_content_type")
    dpop_headers = request.headers.getlist("dpop")
    if len(dpop_headers) > 1:
        raise OAuthError(
            OAuthErrorCode.INVALID_DPOP_PROOF,
            "send exactly one DPoP header",
            reason="dpop_malformed",
        )
    return TokenRequest.form(
        await request.body(),
        dpop=dpop_headers[0] if dpop_headers else None,
        url=str(request.url) if dpop_headers else None,  # only DPoP's htu needs it
        actor=actor_dep(request),
        loop=asyncio.get_running_loop(),
    )


def _services(request: Request) -> Services:
    """The services, without a dependency: FastAPI runs sync dependencies in a thread pool,
    a hop the token endpoint cannot afford on every request."""
    services: Services = request.app.state.services
    return services


@router.post(TOKEN_PATH, openapi_extra=_FORM_BODY, response_model=None)
async def token(request: Request) -> Response:
    """Issue an access token (client credentials or token exchange)."""
    try:
        services = _services(request)
        form = await _form(request)
        client_ids = form.params.get("client_id") or ()
        if len(client_ids) == 1 and is_metadata_url(client_ids[0]):
            # fetch the client's document off the event loop (the endpoint then finds it cached)
            await run_in_threadpool(services.tokens.client_metadata.resolve, client_ids[0])
        pending = services.tokens.token(form)
        issued = await pending.wait()
    except OAuthError as error:
        return oauth_error(error)
    headers = dict(NO_STORE)
    if issued.dpop_nonce:
        headers["DPoP-Nonce"] = issued.dpop_nonce
    # orjson: the same compact UTF-8 JSON as JSONResponse, at a fraction of the CPU
    return Response(orjson.dumps(issued.body()), media_type="application/json", headers=headers)


def _operator(request: Request, services: Services, *, roles: frozenset[UserRole]) -> str | None:
    """A PEP key or a personal API token in ``Authorization: Bearer`` (the console's
    credentials): resource servers and operators introspect and revoke with these.
    ``None`` when the request carries none (then the client authenticates itself)."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    principal = services.auth.keys.authenticate(secret.strip())
    if principal is None:
        raise OAuthError(
            OAuthErrorCode.INVALID_CLIENT,
            "the bearer credential is unknown, expired or revoked",
            reason="unknown_bearer",
        )
    if principal.via != Via.PEP_KEY and principal.role not in roles:
        raise OAuthError(
            OAuthErrorCode.UNAUTHORIZED_CLIENT,
            f"{principal} may not do this",
            reason="forbidden",
            status=403,
        )
    return str(principal)


@router.post(INTROSPECTION_PATH, openapi_extra=_FORM_BODY, response_model=None)
async def introspect(request: Request, services: ServicesDep) -> Response:
    """RFC 7662: is this token active, and what does it say?

    Callers authenticate (§2.1) and are authorized per token (§4): a resource
    server or PEP with its PEP key, or an admin with a personal API token, about
    any token; an agent with a client assertion only about tokens issued to it —
    any other token answers ``{"active": false}``, as an unknown one does (§2.2),
    so one enrolled agent cannot read another's claims.
    """
    try:
        form = await _form(request)
        operator = _operator(request, services, roles=frozenset({UserRole.ADMIN}))
        holder = None
        if operator is None:
            holder = await run_in_threadpool(services.tokens.authenticate_caller, form)
        token_value = form.single().get("token")
        if not token_value:
            raise invalid_request("the 'token' parameter is required", field="token")
    except OAuthError as error:
        return oauth_error(error)
    answer = await run_in_threadpool(services.tokens.introspect, token_value, holder=holder)
    return JSONResponse(answer, headers=NO_STORE)


@router.post(REVOCATION_PATH, openapi_extra=_FORM_BODY, response_model=None)
async def revoke(request: Request, services: ServicesDep) -> Response:
    """RFC 7009: revoke a token. A client revokes tokens it holds; an admin (personal API
    token) any token. Unknown or invalid tokens are no error (§2.2)."""
    try:
        form = await _form(request)
        admin = _operator(request, services, roles=frozenset({UserRole.ADMIN}))
        if admin is not None and admin.startswith("pep:"):
            raise OAuthError(
                OAuthErrorCode.UNAUTHORIZED_CLIENT,
                "PEP keys do not revoke",
                reason="forbidden",
                status=403,
            )
        client = None
        if admin is None:
            client = await run_in_threadpool(services.tokens.authenticate_caller, form)
        params = form.single()
        token_value = params.get("token")
        if not token_value:
            raise invalid_request("the 'token' parameter is required", field="token")
        hint = params.get("token_type_hint")
        if hint not in (None, "access_token"):
            raise OAuthError(
                OAuthErrorCode.UNSUPPORTED_TOKEN_TYPE,
                "Charter issues access tokens only",
                reason="unsupported_token_type",
            )
        await run_in_threadpool(
            services.tokens.revoke, token_value, client_id=client, actor=client or admin or "api"
        )
    except OAuthError as error:
        return oauth_error(error)
    return Response(status_code=200, headers=NO_STORE)


@router.post(REGISTRATION_PATH, status_code=201, response_model=None)
async def register(request: Request, services: ServicesDep) -> Response:
    """RFC 7591: redeem a one-time enrolment code, registering the agent's public key."""
    scheme, _, code = request.headers.get("authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not code.strip():
            raise OAuthError(
                OAuthErrorCode.INVALID_TOKEN,
                "send the enrolment code as 'Authorization: Bearer <code>'",
                reason="no_enrolment_code",
            )
        body = await request.body()
        if len(body) > MAX_REGISTRATION_BYTES:
            raise OAuthError(
                OAuthErrorCode.INVALID_CLIENT_METADATA, "the body is too large", reason="too_large"
            )
        try:
            metadata = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            raise OAuthError(
                OAuthErrorCode.INVALID_CLIENT_METADATA, "the body is not JSON", reason="malformed"
            ) from exc
        if not isinstance(metadata, dict):
            raise OAuthError(
                OAuthErrorCode.INVALID_CLIENT_METADATA,
                "the body is a JSON object",
                reason="malformed",
            )
        method = metadata.get("token_endpoint_auth_method", "private_key_jwt")
        if method != "private_key_jwt":
            raise OAuthError(
                OAuthErrorCode.INVALID_CLIENT_METADATA,
                "token_endpoint_auth_method must be private_key_jwt",
                reason="unsupported_client_auth",
            )
        enrolled = await run_in_threadpool(
            services.tokens.register_with_code,
            code.strip(),
            metadata.get("jwks"),
            actor=actor_dep(request),
        )
    except OAuthError as error:
        return oauth_error(error)
    key = enrolled.key
    return JSONResponse(
        {
            "client_id": key.agent,
            "client_id_issued_at": int(key.created_at.timestamp()),
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": [
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ],
            "jwks": {"keys": [key.public_jwk]},
        },
        status_code=201,
        headers=NO_STORE,
    )


class JwkSetResponse(JSONResponse):
    """RFC 7517 §8.5.1: a JWK Set has its own media type (the OpenAPI document says so)."""

    media_type = "application/jwk-set+json"


@router.get(JWKS_PATH, tags=["well-known"], response_class=JwkSetResponse)
def jwks(services: ServicesDep) -> JwkSetResponse:
    """Every key that verifies a current token (RFC 7517 §5)."""
    return JwkSetResponse(services.tokens.jwks(), headers={"Cache-Control": "public, max-age=60"})


@router.get(METADATA_PATH, tags=["well-known"])
def metadata(services: ServicesDep) -> JSONResponse:
    """Authorization server metadata (RFC 8414 §3)."""
    return JSONResponse(
        services.tokens.metadata(), headers={"Cache-Control": "public, max-age=300"}
    )
