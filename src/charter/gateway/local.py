"""The gateway's authority in-process: the same store, the token and decision services.

Used when ``CHARTER_URL`` is not set. Token checks go through
:meth:`~charter.services.tokens.service.TokenService.verify_access_token` (signature,
audience, expiry, revocation, agent standing, DPoP proof and replay); decisions
through :meth:`~charter.services.decisions.DecisionService.decide` on its
compiled snapshot, which follows the store within a second — and is what the
kill switch watches. Activity goes to the decision service's batched recorder,
so a call costs no store write on the request path.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

import anyio

from charter.domain.audit import EventDraft
from charter.domain.compiled import CompiledAgent
from charter.domain.decision import Decision
from charter.domain.tokens.claims import VerifiedToken
from charter.domain.tokens.errors import InvalidToken
from charter.gateway.authority import (
    AgentPrincipal,
    AgentView,
    AuthError,
    AuthFailure,
    Presented,
    Scheme,
)
from charter.services.context import Services

SOURCE = "gateway"
#: How long a verified bearer token is trusted without asking the token service again.
VERIFIED_TTL = 0.25


def view_of(compiled: CompiledAgent, now_us: int) -> AgentView:
    """An agent's listing and limits from its compiled charter (only active agents have rules)."""
    return AgentView.build(
        compiled.name,
        active=compiled.active,
        version=compiled.charter_version,
        allow=tuple((rule.id, rule.capability) for rule in compiled.allows.rules),
        deny=tuple(rule.capability for rule in compiled.denies.rules),
        expired=now_us >= compiled.expires_us,
    )


def failure_of(error: InvalidToken, scheme: Scheme) -> AuthFailure:
    """The RFC 6750 / RFC 9449 refusal for a token the token service did not accept."""
    reason = error.reason
    if reason == "dpop_required":
        return AuthFailure(
            AuthError.INVALID_TOKEN, error.message, reason=reason, scheme=Scheme.DPOP
        )
    if reason.startswith("dpop_"):
        return AuthFailure(
            AuthError.INVALID_DPOP_PROOF, error.message, reason=reason, scheme=Scheme.DPOP
        )
    return AuthFailure(
        AuthError.INVALID_TOKEN, error.message, reason=reason, scheme=scheme, agent=error.agent
    )


def principal_of(verified: Any) -> AgentPrincipal:
    return AgentPrincipal(
        agent=verified.agent,
        on_behalf_of=verified.on_behalf_of,
        chain=verified.delegation_chain,
        token_id=verified.jti,
        issuer=verified.issuer,
        expires_at=verified.expires_at,
        scopes=frozenset(verified.scopes),
        key_thumbprint=verified.jkt,
    )


def check_scheme(principal: AgentPrincipal, scheme: Scheme) -> None:
    """RFC 9449 §7.1: a bound token only with the DPoP scheme, the DPoP scheme only with one."""
    if principal.key_thumbprint is not None and scheme != Scheme.DPOP:
        raise AuthFailure(
            AuthError.INVALID_TOKEN,
            "a DPoP-bound token must be sent with the DPoP scheme",
            reason="dpop_required",
            scheme=Scheme.DPOP,
        )
    if principal.key_thumbprint is None and scheme == Scheme.DPOP:
        raise AuthFailure(
            AuthError.INVALID_TOKEN,
            "the token is not DPoP-bound; send it as a Bearer token",
            reason="not_dpop_bound",
            scheme=Scheme.DPOP,
        )


class LocalAuthority:
    """Charter in the gateway's own process."""

    def __init__(
        self, services: Services, *, authorization_servers: list[str] | None = None
    ) -> None:
        self.services = services
        self.tokens = services.tokens
        self.decisions = services.decisions
        self.authorization_servers = authorization_servers or [self.tokens.issuer]
        self._verified: dict[tuple[str, str], tuple[float, AgentPrincipal]] = {}

    async def authenticate(self, presented: Presented, audience: str) -> AgentPrincipal:
        # A bearer token just verified is trusted again for VERIFIED_TTL (the kill switch
        # and revocation act within that); a DPoP proof is checked on every request.
        now = time.monotonic()
        cached = self._verified.get((presented.token, audience))
        if cached is not None and presented.proof is None and now - cached[0] < VERIFIED_TTL:
            check_scheme(cached[1], presented.scheme)
            return cached[1]

        def verify() -> VerifiedToken:
            return self.tokens.verify_access_token(
                presented.token,
                audience=audience,
                dpop_proof=presented.proof,
                htm=presented.method,
                htu=presented.url,
            )

        try:
            # a DPoP proof may be consumed in the shared store (a commit): off the event loop
            verified = (
                verify() if presented.proof is None else await anyio.to_thread.run_sync(verify)
            )
        except InvalidToken as error:
            raise failure_of(error, presented.scheme) from None
        principal = principal_of(verified)
        check_scheme(principal, presented.scheme)
        if principal.key_thumbprint is None:
            if len(self._verified) >= 100_000:
                self._verified.clear()
            self._verified[(presented.token, audience)] = (now, principal)
        return principal

    async def decide(
        self, principal: AgentPrincipal, action: str, resource: str, context: Mapping[str, Any]
    ) -> Decision:
        decision = self.decisions.decide(
            principal.agent,
            action,
            resource,
            context=context,
            on_behalf_of=principal.on_behalf_of,
            source=SOURCE,
            record=False,
        )
        if decision.needs_approval:  # held until a person approves this exact call
            decision = await anyio.to_thread.run_sync(
                self.services.call_approvals.settle,
                decision,
                principal.agent,
                action,
                resource,
                context,
                principal.on_behalf_of,
            )
        return decision

    async def delegator_may_decide(self, principal: AgentPrincipal, request_id: str) -> bool:
        """Whether the person the agent acts for may decide this held call themselves."""
        person = principal.on_behalf_of
        if not person:
            return False
        check = self.services.call_approvals.delegator_may_decide
        return await anyio.to_thread.run_sync(check, request_id, person)

    async def decide_as_delegator(
        self, principal: AgentPrincipal, request_id: str, *, approve: bool, via: str
    ) -> None:
        """Record the delegator's answer, audited as theirs (every check is made again)."""
        person = principal.on_behalf_of
        if not person:
            raise ValueError("the agent acts for nobody")
        service = self.services.call_approvals
        answer = service.approve if approve else service.deny
        await anyio.to_thread.run_sync(lambda: answer(request_id, approver=person, via=via))

    def record(
        self,
        principal: AgentPrincipal,
        action: str,
        resource: str,
        decision: Decision,
        latency_us: float,
    ) -> None:
        self.decisions.recorder.record(
            time.time_ns() // 1000,
            principal.agent,
            action,
            resource,
            principal.on_behalf_of,
            decision,
            SOURCE,
            latency_us,
        )

    async def agent(self, name: str) -> AgentView | None:
        compiled = self.decisions.snapshot().agents.get(name)
        return view_of(compiled, self.decisions.now_us()) if compiled is not None else None

    async def inactive(self, names: Collection[str]) -> set[str]:
        agents = self.decisions.snapshot().agents
        now_us = self.decisions.now_us()
        gone = set()
        for name in names:
            compiled = agents.get(name)
            if compiled is None or not compiled.active or now_us >= compiled.expires_us:
                gone.add(name)
        return gone

    async def note_cut(self, agent: str, sessions: int, calls: int, reason: str) -> None:
        draft = EventDraft(
            "gateway",
            "gateway.cut",
            "agent",
            agent,
            None,
            {"sessions": sessions, "calls": calls, "reason": reason},
        )
        await anyio.to_thread.run_sync(self.services.audit.append, [draft])

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.decisions.recorder.flush)
