"""A stand-in :class:`~charter.gateway.authority.Authority` over the real decision engine.

Charters are compiled with the real compiler and decided with the real
``evaluate``; only tokens are a dictionary (token text → principal), so the
gateway core can be tested without a store or a token service.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from charter.domain.agent import Agent
from charter.domain.charter import CharterSpec
from charter.domain.compiled import Snapshot, compile_agent
from charter.domain.decision import Decision
from charter.domain.enums import AgentState
from charter.domain.evaluation import evaluate
from charter.gateway.authority import AgentPrincipal, AgentView, AuthError, AuthFailure, Presented
from charter.gateway.local import view_of

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@dataclass
class Recorded:
    agent: str
    on_behalf_of: str | None
    action: str
    resource: str
    decision: Decision
    latency_us: float


@dataclass
class FakeAuthority:
    charters: dict[str, CharterSpec]
    tokens: dict[str, AgentPrincipal] = field(default_factory=dict)
    states: dict[str, AgentState] = field(default_factory=dict)
    records: list[Recorded] = field(default_factory=list)
    cuts: list[tuple[str, int, int]] = field(default_factory=list)
    authorization_servers: list[str] = field(default_factory=lambda: ["http://as.example"])
    audiences: list[str] = field(default_factory=list)

    def snapshot(self) -> Snapshot:
        agents = {}
        for name, spec in self.charters.items():
            agent = Agent(
                name, spec.owner, self.states.get(name, AgentState.ACTIVE), spec, 1, NOW, NOW
            )
            agents[name] = compile_agent(agent)
        return Snapshot(agents, {})

    async def authenticate(self, presented: Presented, audience: str) -> AgentPrincipal:
        self.audiences.append(audience)
        principal = self.tokens.get(presented.token)
        if principal is None:
            raise AuthFailure(AuthError.INVALID_TOKEN, "unknown token", reason="bad_signature")
        if self.states.get(principal.agent, AgentState.ACTIVE) != AgentState.ACTIVE:
            raise AuthFailure(
                AuthError.INVALID_TOKEN,
                "agent not active",
                reason="agent_not_active",
                agent=principal.agent,
            )
        return principal

    async def decide(
        self, principal: AgentPrincipal, action: str, resource: str, context: Mapping[str, Any]
    ) -> Decision:
        return evaluate(
            self.snapshot(), principal.agent, action, resource, context, principal.on_behalf_of
        )

    def record(
        self,
        principal: AgentPrincipal,
        action: str,
        resource: str,
        decision: Decision,
        latency_us: float,
    ) -> None:
        self.records.append(
            Recorded(
                principal.agent, principal.on_behalf_of, action, resource, decision, latency_us
            )
        )

    async def agent(self, name: str) -> AgentView | None:
        compiled = self.snapshot().agents.get(name)
        return view_of(compiled, time.time_ns() // 1000) if compiled else None

    async def inactive(self, names: Collection[str]) -> set[str]:
        return {n for n in names if self.states.get(n, AgentState.ACTIVE) != AgentState.ACTIVE}

    async def note_cut(self, agent: str, sessions: int, calls: int, reason: str) -> None:
        self.cuts.append((agent, sessions, calls))

    async def aclose(self) -> None:
        return None
