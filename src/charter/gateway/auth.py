"""The gateway as an OAuth resource server, per the MCP authorization spec.

Every request to ``/mcp`` must carry an access token from Charter's token
service, as ``Authorization: Bearer <token>`` (RFC 6750 §2.1) or
``Authorization: DPoP <token>`` with a ``DPoP`` proof header (RFC 9449 §7.1).
The token must name this gateway in its audience (RFC 8707; the MCP spec:
"servers MUST only accept tokens specifically intended for themselves") and
the store must still back it (not revoked, agent active, charter unchanged).

Refusals follow RFC 6750 §3 / RFC 9449 §7.1: ``401`` with
``WWW-Authenticate`` naming the error and, as the MCP spec requires, the
``resource_metadata`` URL of this gateway's RFC 9728 document, so an MCP
client can find the authorization server; ``400`` for a malformed request. A
request without any credentials gets no error code at all (RFC 6750 §3.1: "the
resource server SHOULD NOT include an error code"), only ``resource_metadata``.
A call the charter would allow but the token's scope does not cover is a
``403`` ``insufficient_scope`` challenge naming the scope to step up to
(:mod:`.stepup`). The token is never passed on to any upstream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charter.gateway.authority import (
    AgentPrincipal,
    AuthError,
    AuthFailure,
    Authority,
    Presented,
    Scheme,
)
from charter.gateway.bodies import peek_body
from charter.gateway.sessions import Sessions
from charter.gateway.stepup import Call, parse_call

logger = logging.getLogger("charter.gateway.auth")

PRINCIPAL_KEY = "charter.principal"
DPOP_ALGS = ("EdDSA", "ES256", "RS256")
MAX_TOKEN_LENGTH = 16 * 1024
SESSION_HEADER = "mcp-session-id"
#: Bodies up to this size are read before the MCP handler, to answer a step-up challenge.
PEEK_LIMIT = 256 * 1024

#: The step-up hook: the scope a call needs, if the token lacks it and the charter allows it.
StepUp = Callable[[AgentPrincipal, Call], Awaitable[str | None]]

#: Tokens whose refusal means the agent itself may no longer act: cut its sessions.
AGENT_GONE = frozenset({"agent_not_active", "agent_unknown", "charter_expired"})


def metadata_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known segment goes between host and the resource's path."""
    parts = urlsplit(resource)
    path = parts.path if parts.path not in ("", "/") else ""
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{path}"


def resource_metadata(
    resource: str, authorization_servers: list[str], scopes: list[str] | None
) -> dict[str, Any]:
    """This gateway's RFC 9728 §2 protected resource metadata.

    Built as plain data (URLs exactly as configured: an issuer identifier is
    compared as a string, RFC 8414 §3.3, so no normalising trailing slash).
    """
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": list(authorization_servers),
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "resource_name": "Charter MCP gateway",
    }
    if scopes:
        document["scopes_supported"] = scopes
    return document


def _quoted(text: str) -> str:
    """A quoted-string for an auth-param (RFC 9110 §11.2): printable ASCII, no quotes."""
    clean = "".join(c for c in text if 0x20 <= ord(c) < 0x7F and c not in '"\\')
    return f'"{clean[:300]}"'


def challenge(failure: AuthFailure | None, resource_metadata_url: str) -> str:
    """The ``WWW-Authenticate`` value for a refusal (or for a request without a token:
    then no ``error``, RFC 6750 §3.1)."""
    params = []
    scheme = failure.scheme if failure is not None else Scheme.BEARER
    if failure is not None:
        params.append(f"error={_quoted(failure.error.value)}")
        if failure.scope:
            params.append(f"scope={_quoted(failure.scope)}")
        params.append(f"error_description={_quoted(failure.description)}")
    if scheme == Scheme.DPOP:
        params.append(f"algs={_quoted(' '.join(DPOP_ALGS))}")
    params.append(f"resource_metadata={_quoted(resource_metadata_url)}")
    return f"{scheme.value} " + ", ".join(params)


def refusal(failure: AuthFailure | None, resource_metadata_url: str) -> Response:
    status = failure.status if failure is not None else 401
    body: dict[str, str] = {"error_description": "an access token is required"}
    if failure is not None:
        body = {"error": failure.error.value, "error_description": failure.description}
        if failure.scope:
            body["scope"] = failure.scope
    headers = {
        "WWW-Authenticate": challenge(failure, resource_metadata_url),
        "Cache-Control": "no-store",
    }
    if failure is not None and failure.nonce:
        headers["DPoP-Nonce"] = failure.nonce
    return JSONResponse(body, status_code=status, headers=headers)


def presented(headers: Headers, method: str, url: str) -> Presented | None:
    """The credentials in a request, or ``None`` without an Authorization header."""
    values = headers.getlist("authorization")
    if not values:
        return None
    if len(values) > 1:
        raise AuthFailure(
            AuthError.INVALID_REQUEST, "send one Authorization header", reason="malformed"
        )
    scheme_text, _, token = values[0].strip().partition(" ")
    token = token.strip()
    lowered = scheme_text.lower()
    if lowered not in ("bearer", "dpop"):
        raise AuthFailure(
            AuthError.INVALID_REQUEST,
            f"unsupported authorization scheme {scheme_text[:20]!r}: use Bearer or DPoP",
            reason="malformed",
        )
    scheme = Scheme.DPOP if lowered == "dpop" else Scheme.BEARER
    if not token or len(token) > MAX_TOKEN_LENGTH or " " in token:
        raise AuthFailure(
            AuthError.INVALID_REQUEST,
            "the access token is missing or malformed",
            reason="malformed",
            scheme=scheme,
        )
    proofs = headers.getlist("dpop")
    if len(proofs) > 1:
        raise AuthFailure(
            AuthError.INVALID_DPOP_PROOF,
            "send exactly one DPoP proof",
            reason="dpop_malformed",
            scheme=Scheme.DPOP,
        )
    proof = proofs[0] if proofs else None
    if scheme == Scheme.DPOP and proof is None:
        raise AuthFailure(
            AuthError.INVALID_DPOP_PROOF,
            "a DPoP token needs a DPoP proof header",
            reason="dpop_missing",
            scheme=Scheme.DPOP,
        )
    return Presented(scheme, token, proof, method, url)


def _request_url(scope: Scope, headers: Headers) -> str:
    """The request's URL without query (RFC 9449 §4.3 ``htu``), from the scope without parsing."""
    host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{scope['path']}"


class ResourceServer:
    """ASGI middleware in front of the MCP endpoint: authenticate, then hand the principal on."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authority: Authority,
        resource: str,
        sessions: Sessions,
        on_agent_gone: Callable[[str, str], Awaitable[None]],
        step_up: StepUp | None = None,
    ) -> None:
        self.app = app
        self.step_up = step_up
        self.authority = authority
        self.resource = resource
        self.metadata_url = metadata_url(resource)
        self.sessions = sessions
        self.on_agent_gone = on_agent_gone
        self._users: dict[str, AuthenticatedUser] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            credentials = presented(headers, scope["method"], _request_url(scope, headers))
            if credentials is None:
                await refusal(None, self.metadata_url)(scope, receive, send)
                return
            principal = await self.authority.authenticate(credentials, self.resource)
        except AuthFailure as failure:
            if failure.agent and failure.reason in AGENT_GONE:
                await self.on_agent_gone(
                    failure.agent, f"its token was refused: {failure.description}"
                )
            await refusal(failure, self.metadata_url)(scope, receive, send)
            return
        if self.sessions.cut_reason(principal.agent) is not None:
            self.sessions.restore(principal.agent)  # the store backs it again
        session_id = headers.get(SESSION_HEADER)
        if session_id is not None:
            owner = self.sessions.owner(session_id)
            if owner is not None and owner != principal.agent:
                await _not_found(scope, receive, send)
                return
        scope[PRINCIPAL_KEY] = principal
        scope["user"] = self._user(principal, credentials.token)
        scope["auth"] = AuthCredentials(sorted(principal.scopes))
        if scope["method"] == "DELETE" and session_id is not None:
            await self.app(scope, receive, send)
            self.sessions.closed(session_id)
            return
        if self.step_up is not None and scope["method"] == "POST":
            receive, needed = await self._scope_needed(scope, receive, principal, session_id)
            if needed is not None:
                challenged = AuthFailure(
                    AuthError.INSUFFICIENT_SCOPE,
                    f"the charter allows this call but the token's scope does not include "
                    f"{needed!r}: request a token with scope {needed!r}",
                    reason="scope_exceeded",
                    scheme=credentials.scheme,
                    scope=needed,
                )
                await refusal(challenged, self.metadata_url)(scope, receive, send)
                return
        if session_id is None:  # a request that may open a session (initialize)
            send = self._watch_session(principal.agent, send)
        await self.app(scope, receive, send)

    async def _scope_needed(
        self, scope: Scope, receive: Receive, principal: AgentPrincipal, session: str | None
    ) -> tuple[Receive, str | None]:
        """Read the body (up to :data:`PEEK_LIMIT`) and ask the step-up hook about it;
        hand back a ``receive`` that replays what was read."""
        assert self.step_up is not None
        body, replay = await peek_body(receive, PEEK_LIMIT)
        if body is None:
            return replay, None
        call = parse_call(body)
        if call is None:
            return replay, None
        client = scope.get("client")
        call = Call(call.method, call.params, client[0] if client else None, session)
        try:
            return replay, await self.step_up(principal, call)
        except Exception:  # the handler still decides the call in full: no challenge, no gap
            logger.exception("the step-up check failed; the call is decided by the handler")
            return replay, None

    def _user(self, principal: AgentPrincipal, token: str) -> AuthenticatedUser:
        """The SDK's view of the caller (cached per token: built once, not per request)."""
        user = self._users.get(token)
        if user is None or user.access_token.client_id != principal.agent:
            if len(self._users) >= 10_000:
                self._users.clear()
            user = self._users[token] = AuthenticatedUser(_sdk_token(principal, token))
        return user

    def _watch_session(self, agent: str, send: Send) -> Send:
        """Note the session id the SDK assigns on the response that opens a session."""

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status", 500) < 400:
                for name, value in message.get("headers", []):
                    if name.lower() == SESSION_HEADER.encode():
                        self.sessions.opened(agent, value.decode("latin-1"))
            await send(message)

        return watched


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}
    await Response(json.dumps(body), status_code=404, media_type="application/json")(
        scope, receive, send
    )


def _sdk_token(principal: AgentPrincipal, token: str) -> AccessToken:
    """What the SDK's session manager compares to bind a session to the credential
    that opened it.
    """
    return AccessToken(
        token=token,
        client_id=principal.agent,
        scopes=sorted(principal.scopes),
        expires_at=principal.expires_at or None,
        subject=principal.on_behalf_of or principal.agent,
        claims={"iss": principal.issuer},
    )
