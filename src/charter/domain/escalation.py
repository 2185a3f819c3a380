"""Privilege-escalation paths, pure: edges "X can become Y because …" and the shortest way to admin.

A source connector finds the edges (for AWS,
:mod:`charter.connectors.aws_escalation`); this module knows only the graph:
an edge goes from one identity to another it can become, or to :data:`ADMIN`
when the identity can make itself an administrator. :func:`paths_to_admin`
walks the edges backwards from every administrator once (breadth first), so
every identity gets its shortest path in time linear in the edges.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The target of an edge by which an identity makes itself an administrator.
ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class EscalationEdge:
    source: str
    target: str  # an identity id, or ADMIN
    technique: str  # a stable id: "lambda-create-invoke", "assume-role", …
    reason: str  # a sentence a person can read
    actions: tuple[str, ...] = ()
    #: conditions that cannot be checked offline, taken to hold (named, never hidden)
    assumptions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": self.source,
            "to": self.target,
            "technique": self.technique,
            "reason": self.reason,
            "actions": list(self.actions),
        }
        if self.assumptions:
            out["assumptions"] = list(self.assumptions)
        return out


@dataclass(frozen=True, slots=True)
class EscalationPath:
    source: str
    edges: tuple[EscalationEdge, ...]
    #: the administrator the path ends at (an identity id), or ADMIN for "makes itself one"
    target: str

    @property
    def conditional(self) -> bool:
        return any(e.assumptions for e in self.edges)

    def describe(self, names: Mapping[str, str]) -> str:
        def name(node: str) -> str:
            return "admin" if node == ADMIN else names.get(node, node)

        hops = " -> ".join([name(self.source), *(name(e.target) for e in self.edges)])
        if self.target != ADMIN:
            hops += " (admin)"
        return hops

    def to_dict(self, names: Mapping[str, str]) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "summary": self.describe(names),
            "steps": [e.to_dict() for e in self.edges],
            "conditional": self.conditional,
        }


@dataclass(slots=True)
class EscalationGraph:
    admins: set[str] = field(default_factory=set)
    edges: list[EscalationEdge] = field(default_factory=list)
    #: identity with no path to admin → (the edge to a more privileged role, what it gains)
    wider: dict[str, tuple[EscalationEdge, tuple[str, ...]]] = field(default_factory=dict)

    def add(self, edge: EscalationEdge) -> None:
        if edge.source != edge.target:
            self.edges.append(edge)

    def paths_to_admin(self) -> dict[str, EscalationPath]:
        """The shortest path to an administrator for every identity that is not one."""
        incoming: dict[str, list[EscalationEdge]] = {}
        for edge in self.edges:
            incoming.setdefault(edge.target, []).append(edge)
        # next hop toward admin: node -> the edge to take; unconditional edges first
        for edges in incoming.values():
            edges.sort(key=lambda e: (len(e.assumptions), e.technique))
        nxt: dict[str, EscalationEdge | None] = dict.fromkeys(sorted(self.admins))
        nxt[ADMIN] = None
        queue = deque(nxt)
        while queue:
            node = queue.popleft()
            for edge in incoming.get(node, ()):
                if edge.source not in nxt:
                    nxt[edge.source] = edge
                    queue.append(edge.source)
        paths: dict[str, EscalationPath] = {}
        for node, first in nxt.items():
            if first is None or node in self.admins:
                continue
            steps = []
            step: EscalationEdge | None = first
            while step is not None:
                steps.append(step)
                if step.target in self.admins:
                    break
                step = nxt.get(step.target)
            paths[node] = EscalationPath(node, tuple(steps), steps[-1].target)
        return paths

    def from_source(self) -> dict[str, list[EscalationEdge]]:
        out: dict[str, list[EscalationEdge]] = {}
        for edge in self.edges:
            out.setdefault(edge.source, []).append(edge)
        return out


def summarise(edges: Iterable[EscalationEdge]) -> list[str]:
    """Techniques named once each, in order: for a finding's one-line message."""
    seen: list[str] = []
    for edge in edges:
        if edge.technique not in seen:
            seen.append(edge.technique)
    return seen
