"""The gateway's authority over HTTP: a Charter server at ``CHARTER_URL``.

Two credentials, both from the environment: a PEP key (``CHARTER_PEP_KEY``:
``charter pep add NAME``) for the enforcement-point endpoints, and an auditor
API token (``CHARTER_API_TOKEN``) to read agents' charters and states.

* **Tokens**: RFC 7662 introspection (``POST /oauth/introspect``, PEP key),
  so revocation, suspension and charter changes count exactly as in-process;
  an answer is reused for at most :data:`INTROSPECTION_TTL` seconds. The
  audience must name this gateway (RFC 8707); a DPoP-bound token's proof is
  checked here (:func:`charter.domain.tokens.dpop.check_proof`, with a replay cache).
* **Decisions**: OpenID AuthZEN 1.0 ``POST /access/v1/evaluation`` (PEP key).
  The PDP records each decision as Activity itself (source ``authzen``);
  refusals the gateway makes on its own (unknown names, token scope, rate
  limits) are logged by the gateway.
* **Listing, limits, kill switch**: ``GET /v1/agents/{name}`` (API token),
  re-read every second for agents with live sessions.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from charter.domain.charter import CharterSpec
from charter.domain.decision import Decision, Reason, ReasonCode
from charter.domain.tokens import dpop
from charter.gateway.authority import (
    AgentPrincipal,
    AgentView,
    AuthError,
    AuthFailure,
    Presented,
    Scheme,
)
from charter.gateway.local import check_scheme
from charter.sdk.guard import authzen_request, decision_from_authzen

logger = logging.getLogger("charter.gateway.remote")

VIEW_TTL = 1.0
#: How long an introspection answer is reused (seconds): the window a revocation can lag.
INTROSPECTION_TTL = 1.0
MAX_CACHED_TOKENS = 100_000


class RemoteAuthority:
    """Charter on another host."""

    def __init__(
        self,
        base_url: str,
        *,
        pep_key: str | None,
        api_token: str | None = None,
        authorization_servers: list[str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.authorization_servers = authorization_servers or [self.base_url]
        self._pep = {"Authorization": f"Bearer {pep_key}"} if pep_key else {}
        self._api = {"Authorization": f"Bearer {api_token}"} if api_token else {}
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=10, transport=transport)
        self._introspected: dict[str, tuple[float, dict[str, Any]]] = {}
        self._views: dict[str, tuple[float, AgentView | None]] = {}
        self._replays = dpop.ReplayCache()

    # -- tokens -------------------------------------------------------------------------------
    async def _introspect(self, token: str, scheme: Scheme) -> dict[str, Any]:
        now = time.monotonic()
        cached = self._introspected.get(token)
        if cached is not None and now - cached[0] < INTROSPECTION_TTL:
            return cached[1]
        try:
            response = await self._http.post(
                "/oauth/introspect", data={"token": token}, headers=self._pep
            )
        except httpx.HTTPError as error:
            raise AuthFailure(
                AuthError.INVALID_TOKEN,
                f"cannot reach Charter to check the token ({type(error).__name__})",
                reason="unavailable",
                scheme=scheme,
            ) from None
        if response.status_code != 200:
            logger.warning(
                "introspection answered HTTP %s (is CHARTER_PEP_KEY set?)", response.status_code
            )
            raise AuthFailure(
                AuthError.INVALID_TOKEN,
                "the token could not be checked",
                reason="unavailable",
                scheme=scheme,
            )
        answer = dict(response.json())
        if len(self._introspected) >= MAX_CACHED_TOKENS:
            self._introspected.clear()
        self._introspected[token] = (now, answer)
        return answer

    async def authenticate(self, presented: Presented, audience: str) -> AgentPrincipal:
        claims = await self._introspect(presented.token, presented.scheme)
        if claims.get("active") is not True:
            raise AuthFailure(
                AuthError.INVALID_TOKEN,
                "the token is not active (expired, revoked, or its agent may no longer act)",
                reason="inactive",
                scheme=presented.scheme,
            )
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if audience not in audiences:
            raise AuthFailure(
                AuthError.INVALID_TOKEN,
                f"the token is not meant for {audience}",
                reason="wrong_audience",
                scheme=presented.scheme,
            )
        principal = _principal(claims)
        check_scheme(principal, presented.scheme)
        if principal.key_thumbprint is not None:
            self._check_proof(presented, principal)
        return principal

    def _check_proof(self, presented: Presented, principal: AgentPrincipal) -> None:
        if presented.proof is None:
            raise AuthFailure(
                AuthError.INVALID_DPOP_PROOF,
                "a DPoP proof is required",
                reason="dpop_missing",
                scheme=Scheme.DPOP,
            )
        now = time.time()
        try:
            proof = dpop.check_proof(
                presented.proof,
                htm=presented.method,
                htu=[presented.url],
                now=now,
                access_token=presented.token,
            )
        except dpop.DPoPError as error:
            raise AuthFailure(
                AuthError.INVALID_DPOP_PROOF, error.message, reason=error.reason, scheme=Scheme.DPOP
            ) from None
        if proof.jkt != principal.key_thumbprint:
            raise AuthFailure(
                AuthError.INVALID_DPOP_PROOF,
                "the DPoP proof is signed by another key",
                reason="dpop_wrong_key",
                scheme=Scheme.DPOP,
            )
        if not self._replays.consume(proof.use, now):
            raise AuthFailure(
                AuthError.INVALID_DPOP_PROOF,
                "the DPoP proof was used before",
                reason="dpop_replayed",
                scheme=Scheme.DPOP,
            )

    # -- decisions ----------------------------------------------------------------------------
    async def decide(
        self, principal: AgentPrincipal, action: str, resource: str, context: Mapping[str, Any]
    ) -> Decision:
        body = authzen_request(principal.agent, action, resource, context, principal.on_behalf_of)
        try:
            response = await self._http.post("/access/v1/evaluation", json=body, headers=self._pep)
        except httpx.HTTPError as error:
            return _error(f"the PDP at {self.base_url} did not answer ({type(error).__name__})")
        if response.status_code != 200:
            return _error(f"the PDP answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            return decision_from_authzen(response.json())
        except ValueError:
            return _error("the PDP's answer is not JSON")

    def record(
        self,
        principal: AgentPrincipal,
        action: str,
        resource: str,
        decision: Decision,
        latency_us: float,
    ) -> None:
        if not decision.allowed:
            logger.info(
                "refused %s %s on %s: %s", principal.agent, action, resource, decision.summary()
            )

    # -- agents -------------------------------------------------------------------------------
    async def agent(self, name: str, *, fresh: bool = False) -> AgentView | None:
        now = time.monotonic()
        cached = self._views.get(name)
        if cached is not None and not fresh and now - cached[0] < VIEW_TTL:
            return cached[1]
        try:
            response = await self._http.get(f"/v1/agents/{name}", headers=self._api)
        except httpx.HTTPError:
            logger.warning("cannot read agent %s from %s", name, self.base_url)
            return cached[1] if cached is not None else None
        view = _view(name, response.json()) if response.status_code == 200 else None
        if response.status_code not in (200, 404):
            logger.warning(
                "reading agent %s: HTTP %s (is CHARTER_API_TOKEN set?)", name, response.status_code
            )
        self._views[name] = (now, view)
        return view

    async def inactive(self, names: Collection[str]) -> set[str]:
        gone = set()
        for name in names:
            view = await self.agent(name, fresh=True)
            if view is None or not view.active or view.expired:
                gone.add(name)
        return gone

    async def note_cut(self, agent: str, sessions: int, calls: int, reason: str) -> None:
        logger.warning(
            "kill switch: %s cut off (%d sessions, %d calls): %s", agent, sessions, calls, reason
        )

    async def aclose(self) -> None:
        await self._http.aclose()


def _error(message: str) -> Decision:
    return Decision(False, reasons=(Reason(ReasonCode.EVALUATION_ERROR, message + "; denied"),))


def _principal(claims: Mapping[str, Any]) -> AgentPrincipal:
    """The caller, from an RFC 7662 introspection answer (RFC 9068 / RFC 8693 claims)."""
    actors: list[str] = []
    act = claims.get("act")
    while isinstance(act, dict) and len(actors) < 5:
        actors.append(str(act.get("sub")))
        act = act.get("act")
    cnf = claims.get("cnf")
    return AgentPrincipal(
        agent=str(claims.get("client_id")),
        on_behalf_of=str(claims["sub"]) if actors else None,
        chain=tuple(actors),
        token_id=str(claims.get("jti", "")),
        issuer=str(claims.get("iss", "")),
        expires_at=int(claims.get("exp", 0)),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        key_thumbprint=str(cnf["jkt"]) if isinstance(cnf, dict) and "jkt" in cnf else None,
    )


def _view(name: str, body: Any) -> AgentView | None:
    if not isinstance(body, dict):
        return None
    document = body.get("charter")
    spec = CharterSpec.model_validate(document) if isinstance(document, dict) else None
    active = body.get("state") == "active" and spec is not None
    allow = (
        tuple((f"charter/{name}/allow/{i}", rule) for i, rule in enumerate(spec.allow))
        if active and spec
        else ()
    )
    deny = tuple(spec.deny) if active and spec else ()
    expired = bool(spec and spec.expires and spec.expires < dt.datetime.now(dt.UTC).date())
    return AgentView.build(
        name,
        active=active,
        version=int(body.get("charter_version", 0)),
        allow=allow,
        deny=deny,
        expired=expired,
    )
