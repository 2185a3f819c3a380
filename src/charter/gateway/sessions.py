"""Which agent holds which MCP sessions and in-flight calls: the kill switch's ledger.

Suspending an agent must take effect in the gateway at once, not when its
token next expires (OWASP ASI10 "rogue agents": containment is a switch, not
a timeout). Every forwarded call runs inside a cancel scope registered here
under its agent, and every streamable HTTP session id is recorded against the
agent that opened it. :meth:`Sessions.cut` cancels the calls (their handlers
answer with a clear "cut off" error) and hands back the session ids for the
server to terminate; until the agent is active again, nothing of it is served.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio


@dataclass(frozen=True, slots=True)
class Cut:
    agent: str
    calls: int
    sessions: tuple[str, ...]
    reason: str


class Sessions:
    def __init__(self) -> None:
        self._calls: dict[str, set[anyio.CancelScope]] = {}
        self._sessions: dict[str, set[str]] = {}
        self._owner: dict[str, str] = {}
        self._cut: dict[str, str] = {}

    @contextmanager
    def call(self, agent: str) -> Iterator[anyio.CancelScope]:
        """Run one forwarded call under a scope the kill switch can cancel."""
        scope = anyio.CancelScope()
        calls = self._calls.setdefault(agent, set())
        calls.add(scope)
        try:
            with scope:
                yield scope
        finally:
            calls.discard(scope)
            if not calls and self._calls.get(agent) is calls:
                del self._calls[agent]

    def opened(self, agent: str, session_id: str) -> None:
        self._sessions.setdefault(agent, set()).add(session_id)
        self._owner[session_id] = agent

    def closed(self, session_id: str) -> None:
        agent = self._owner.pop(session_id, None)
        if agent is not None:
            ids = self._sessions.get(agent)
            if ids is not None:
                ids.discard(session_id)
                if not ids:
                    del self._sessions[agent]

    def owner(self, session_id: str) -> str | None:
        return self._owner.get(session_id)

    def agents(self) -> set[str]:
        """Agents with anything live here (what the watcher must keep an eye on)."""
        return set(self._calls) | set(self._sessions)

    def in_flight(self, agent: str) -> int:
        return len(self._calls.get(agent, ()))

    def cut(self, agent: str, reason: str) -> Cut:
        """Cancel the agent's in-flight calls and forget its sessions
        (the caller terminates them).
        """
        self._cut[agent] = reason
        calls = self._calls.get(agent, set())
        for scope in list(calls):
            scope.cancel()
        sessions = tuple(sorted(self._sessions.pop(agent, set())))
        for session_id in sessions:
            self._owner.pop(session_id, None)
        return Cut(agent, len(calls), sessions, reason)

    def cut_reason(self, agent: str) -> str | None:
        """Why the agent was cut off, while it still is."""
        return self._cut.get(agent)

    def restore(self, agent: str) -> None:
        """The agent may act again (reactivated): serve it again."""
        self._cut.pop(agent, None)
