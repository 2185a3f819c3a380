"""What the gateway asks Charter, behind one interface: who is calling, may they, and record it.

Two implementations: :mod:`charter.gateway.local` answers in-process over the
same store (``CHARTER_HOME`` / ``CHARTER_DATABASE_URL``) through the decision
and token services; :mod:`charter.gateway.remote` asks a Charter server at
``CHARTER_URL`` over HTTP (AuthZEN evaluation, RFC 7662 introspection). The
gateway core sees only :class:`Authority`, so both paths enforce the same way
and tests can stand in a double.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from charter.domain.charter import Capability
from charter.domain.decision import Decision


class Scheme(StrEnum):
    """How the access token was presented (RFC 6750 §2.1, RFC 9449 §7.1)."""

    BEARER = "Bearer"
    DPOP = "DPoP"


@dataclass(frozen=True, slots=True)
class Presented:
    """The credentials one HTTP request carried, as the resource server must check them."""

    scheme: Scheme
    token: str
    proof: str | None  #: the ``DPoP`` header (RFC 9449 §4.1), if any
    method: str  #: for the proof's ``htm``
    url: str  #: for the proof's ``htu``


@dataclass(frozen=True, slots=True)
class AgentPrincipal:
    """The authenticated caller: an agent, perhaps acting for a person."""

    agent: str
    on_behalf_of: str | None = None
    chain: tuple[str, ...] = ()  #: delegation chain, current agent first
    token_id: str = ""
    issuer: str = ""
    expires_at: int = 0
    scopes: frozenset[str] = frozenset()
    key_thumbprint: str | None = None  #: ``cnf.jkt`` of a DPoP-bound token

    def in_scope(self, action: str) -> bool:
        """RFC 6749 §3.3: a token's scope is the ceiling of what it may be used for."""
        return action in self.scopes

    @property
    def delegator(self) -> str | None:
        return self.on_behalf_of


class AuthError(StrEnum):
    """The ``error`` of a refused request (RFC 6750 §3.1, RFC 9449 §7.1)."""

    INVALID_REQUEST = "invalid_request"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code, not a secret
    INSUFFICIENT_SCOPE = "insufficient_scope"
    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    USE_DPOP_NONCE = "use_dpop_nonce"


_STATUS = {
    AuthError.INVALID_REQUEST: 400,
    AuthError.INVALID_TOKEN: 401,
    AuthError.INSUFFICIENT_SCOPE: 403,
    AuthError.INVALID_DPOP_PROOF: 401,
    AuthError.USE_DPOP_NONCE: 401,
}


class AuthFailure(Exception):
    """A request the gateway must refuse before any MCP handling.

    ``reason`` is the token service's stable code (``expired``,
    ``wrong_audience``, ``revoked``, ``agent_not_active``…); ``agent`` is set
    when the token named one, so a refusal for a suspended agent can also cut
    that agent's open sessions; ``scope`` names, on ``insufficient_scope``,
    the scope a step-up token needs.
    """

    def __init__(
        self,
        error: AuthError,
        description: str,
        *,
        reason: str,
        scheme: Scheme = Scheme.BEARER,
        agent: str | None = None,
        nonce: str | None = None,
        scope: str | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.reason = reason
        self.scheme = scheme
        self.agent = agent
        self.nonce = nonce
        self.scope = scope  #: for ``insufficient_scope``: the scope to step up to

    @property
    def status(self) -> int:
        return _STATUS[self.error]


@dataclass(frozen=True, slots=True)
class AgentView:
    """What the gateway needs to know of an agent besides decisions: listing and limits."""

    name: str
    active: bool
    version: int
    allow: tuple[tuple[str, Capability], ...] = ()  #: (rule id, capability)
    deny: tuple[Capability, ...] = ()
    expired: bool = False
    limits: Mapping[str, int] = field(default_factory=dict)  #: rule id → calls per minute

    @classmethod
    def build(
        cls,
        name: str,
        *,
        active: bool,
        version: int,
        allow: tuple[tuple[str, Capability], ...],
        deny: tuple[Capability, ...],
        expired: bool = False,
    ) -> AgentView:
        limits = {
            rule_id: rule.rate_limit_per_minute
            for rule_id, rule in allow
            if rule.rate_limit_per_minute is not None
        }
        return cls(name, active, version, allow, deny, expired, limits)


class Authority(Protocol):
    """Charter, as the gateway reaches it."""

    #: The authorization server(s) agents get tokens from (RFC 9728 metadata).
    authorization_servers: list[str]

    async def authenticate(self, presented: Presented, audience: str) -> AgentPrincipal:
        """Verify the access token (and DPoP proof) for ``audience``; raise :class:`AuthFailure`."""
        ...

    async def decide(
        self, principal: AgentPrincipal, action: str, resource: str, context: Mapping[str, Any]
    ) -> Decision:
        """Decide one request for ``principal``; never raises (a failure is a deny)."""
        ...

    def record(
        self,
        principal: AgentPrincipal,
        action: str,
        resource: str,
        decision: Decision,
        latency_us: float,
    ) -> None:
        """Record one call as Activity (non-blocking)."""
        ...

    async def agent(self, name: str) -> AgentView | None:
        """The agent's current charter rules and state (cached; ``None`` if unknown)."""
        ...

    async def inactive(self, names: Collection[str]) -> set[str]:
        """Which of ``names`` may no longer act (suspended, decommissioned, expired, unknown)."""
        ...

    async def note_cut(self, agent: str, sessions: int, calls: int, reason: str) -> None:
        """Record in the audit log that the kill switch cut an agent off."""
        ...

    async def aclose(self) -> None: ...
