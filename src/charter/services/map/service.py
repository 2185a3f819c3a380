"""Queries over the estate graph: blast radius, who can reach, shared secrets, the overview.

The graph is not materialised: each query walks the store's indexed columns
(``identities.agent``, ``credentials.agent/identity/fingerprint``,
``grants.subject/system``) outward from its start, breadth first, so a blast
radius costs a handful of indexed look-ups however large the estate is.

Edges followed, each with the reason shown to the user:

- agent → identity / credential (attribution evidence);
- credential ↔ identity (the credential authenticates as it);
- identity / credential → system (a grant: resource, permissions, reason);
- identity → identity when a grant says it ``assumes`` the other (role trust,
  IRSA, GKE Workload Identity, a Lambda's execution role, a bot's app);
- credential ↔ credential with the same fingerprint (one secret, several places).
"""

from __future__ import annotations

import fnmatch
from typing import Any

import sqlalchemy as sa

from charter.domain.enums import AgentState
from charter.errors import InvalidInput, NotFound
from charter.services.clock import Clock
from charter.services.map import escalation
from charter.services.map import queries as q
from charter.services.map.graph import (
    Edge,
    EdgeKind,
    Graph,
    Node,
    NodeKind,
    credential_risk,
    identity_risk,
    worst,
)
from charter.services.map.walk import Reach, walk
from charter.store import schema
from charter.store.database import Database

__all__ = ["EstateMapService", "Reach"]

_A, _I, _C, _G, _S = (
    schema.agents,
    schema.identities,
    schema.credentials,
    schema.grants,
    schema.systems,
)
#: In the overview, an identity with more credentials than this shows them as one box.
_GROUP_OVER = 3
_IN = 900  # bound parameters per IN list (SQLite's limit is generous; PostgreSQL's is 65535)


class EstateMapService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    # -- shared look-ups ----------------------------------------------------------------
    def blast_radius(
        self,
        *,
        agent: str | None = None,
        identity: str | None = None,
        depth: int = 4,
        limit: int = 5000,
    ) -> Reach:
        """What ``agent`` (or one identity) can reach, through which credentials and grants."""
        if (agent is None) == (identity is None):
            raise InvalidInput("name exactly one of agent or identity", field="agent")
        if not 1 <= depth <= 8:
            raise InvalidInput("depth must be between 1 and 8", field="depth")
        now = self._clock.now()
        graph = Graph()
        with self._db.read() as connection:
            departed = q.departed(connection)
            if agent is not None:
                row = connection.execute(sa.select(_A).where(_A.c.name == agent)).first()
                if row is None:
                    raise NotFound(f"no agent named {agent!r}", field="agent")
                start_ids = list(
                    connection.execute(
                        sa.select(_I.c.id).where(_I.c.agent == agent, _I.c.gone_at.is_(None))
                    ).scalars()
                )
                start_creds: list[str] = []  # the walk reads them by the agent column
                root = graph.add(q.agent_node(row))
                start = [root.id]
            else:
                found = connection.execute(sa.select(_I.c.id).where(_I.c.id == identity)).first()
                if found is None:
                    raise NotFound(f"no identity {identity!r}", field="identity")
                start_ids, start_creds, root, start = [str(identity)], [], None, [str(identity)]
            reach = Reach(graph, start)
            walk(connection, reach, root, start_ids, start_creds, depth, limit, now, departed)
        if root is not None:
            root.risk = worst(
                root.risk, *(n.risk for n in graph.nodes.values() if n.kind != NodeKind.SYSTEM)
            )
        return reach

    def who_can_reach(self, system: str, *, resource: str | None = None, limit: int = 500) -> Reach:
        """Every identity and credential with a grant on ``system``
        (optionally one resource glob).
        """
        now = self._clock.now()
        graph = Graph()
        with self._db.read() as connection:
            if connection.execute(sa.select(_S.c.id).where(_S.c.id == system)).first() is None:
                raise NotFound(
                    f"no system {system!r} (see 'charter map --systems')", field="system"
                )
            departed = q.departed(connection)
            query = (
                sa.select(_G)
                .where(_G.c.system == system, _G.c.gone_at.is_(None))
                .order_by(_G.c.subject)
            )
            rows = [
                g
                for g in connection.execute(query)
                if resource is None or _matches(g.resource, resource)
            ]
            reach = Reach(graph, [system], truncated=len(rows) > limit)
            rows = rows[:limit]
            subjects = {g.subject for g in rows}
            identities = {i.id: i for i in q.rows(connection, _I, _I.c.id, subjects)}
            creds = {c.id: c for c in q.rows(connection, _C, _C.c.id, subjects)}
            owners = {c.identity for c in creds.values() if c.identity} - identities.keys()
            identities.update({i.id: i for i in q.rows(connection, _I, _I.c.id, owners)})
            graph.add(Node(system, NodeKind.SYSTEM, system))
            for g in rows:
                subject = identities.get(g.subject) or creds.get(g.subject)
                agent = getattr(subject, "agent", None)
                if g.subject in identities:
                    i = identities[g.subject]
                    risk, reasons = identity_risk(
                        i, now, admin=bool((g.properties or {}).get("admin")), departed=departed
                    )
                    graph.add(
                        Node(
                            i.id,
                            NodeKind.IDENTITY,
                            i.name,
                            risk,
                            reasons,
                            {"owner": i.owner, "agent": i.agent},
                        )
                    )
                elif g.subject in creds:
                    c = creds[g.subject]
                    graph.add(
                        Node(
                            c.id, NodeKind.CREDENTIAL, c.preview, *credential_risk(c, now, copies=1)
                        )
                    )
                    if c.identity in identities:
                        agent = agent or identities[c.identity].agent
                if agent:
                    graph.add(Node(agent, NodeKind.AGENT, agent))
                    graph.connect(
                        Edge(agent, g.subject, EdgeKind.ACTS_AS, f"attributed to {agent}")
                    )
                graph.connect(
                    Edge(
                        g.subject,
                        system,
                        EdgeKind.GRANT,
                        g.reason,
                        g.resource,
                        tuple(g.permissions or ()),
                    )
                )
                reach.paths.append(
                    {
                        "subject": g.subject,
                        "subject_type": g.subject_type,
                        "agent": agent,
                        "owner": getattr(identities.get(g.subject), "owner", None),
                        "resource": g.resource,
                        "permissions": list(g.permissions or ()),
                        "reason": g.reason,
                        "admin": bool((g.properties or {}).get("admin")),
                    }
                )
        return reach

    # -- shared credentials -----------------------------------------------------------------
    def shared_credentials(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Secrets present in more than one place, and which agents hold each copy."""
        with self._db.read() as connection:
            hot = connection.execute(
                sa.select(_C.c.fingerprint, sa.func.count().label("copies"))
                .where(_C.c.gone_at.is_(None))
                .group_by(_C.c.fingerprint)
                .having(sa.func.count() > 1)
                .order_by(sa.func.count().desc(), _C.c.fingerprint)
                .limit(limit)
            ).all()
            out = []
            for fp, copies in hot:
                rows = connection.execute(
                    sa.select(_C)
                    .where(_C.c.fingerprint == fp, _C.c.gone_at.is_(None))
                    .order_by(_C.c.id)
                ).all()
                holders = sorted({r.agent for r in rows if r.agent})
                out.append(
                    {
                        "fingerprint": fp,
                        "copies": int(copies),
                        "agents": holders,
                        "shared_by_agents": len(holders) > 1,
                        "places": [
                            {
                                "id": r.id,
                                "source": r.source,
                                "preview": r.preview,
                                "location": r.location,
                                "identity": r.identity,
                                "agent": r.agent,
                            }
                            for r in rows
                        ],
                        "reason": f"one secret in {copies} places"
                        + (f", used by agents {', '.join(holders)}" if len(holders) > 1 else ""),
                    }
                )
        return out

    # -- overview ---------------------------------------------------------------------------
    def overview(
        self, *, max_agents: int = 60, include_registered_without_reach: bool = False
    ) -> Graph:
        """Agents (registered and shadow), what they act as, and the systems they reach."""
        graph = Graph()
        now = self._clock.now()
        with self._db.read() as connection:
            departed = q.departed(connection)
            agents = connection.execute(
                sa.select(_A)
                .where(_A.c.state != AgentState.DECOMMISSIONED.value)
                .order_by(_A.c.origin.desc(), _A.c.name)
                .limit(max_agents)
            ).all()
            names = [a.name for a in agents]
            identities = q.rows(connection, _I, _I.c.agent, names)
            creds = q.rows(connection, _C, _C.c.agent, names)
            creds += q.rows(connection, _C, _C.c.identity, [i.id for i in identities])
            creds = list({c.id: c for c in creds}.values())
            grants = q.rows(
                connection, _G, _G.c.subject, [i.id for i in identities] + [c.id for c in creds]
            )
            copies = q.copies(connection, {c.fingerprint for c in creds})
            admin = {g.subject for g in grants if (g.properties or {}).get("admin")}
            reached = {i.agent for i in identities} | {c.agent for c in creds}
            for a in agents:
                if a.name in reached or include_registered_without_reach:
                    graph.add(q.agent_node(a))
            for i in identities:
                risk, reasons = identity_risk(i, now, admin=i.id in admin, departed=departed)
                graph.add(
                    Node(
                        i.id,
                        NodeKind.IDENTITY,
                        i.name,
                        risk,
                        reasons,
                        {"source": i.source, "kind": i.kind},
                    )
                )
                graph.connect(
                    Edge(i.agent, i.id, EdgeKind.ACTS_AS, q.why_agent(i.properties, i.agent))
                )
            known = {i.id for i in identities}
            per_identity: dict[str, int] = {}
            for c in creds:
                if c.identity in known:
                    per_identity[c.identity] = per_identity.get(c.identity, 0) + 1
            group_of: dict[str, str] = {}  # credential → the aggregate node standing for it
            for c in creds:
                risk, reasons = credential_risk(c, now, copies=copies.get(c.fingerprint, 1))
                node_id, label = c.id, c.preview or c.id
                if c.identity in known and per_identity[c.identity] > _GROUP_OVER:
                    # many per-user grants of one app: one box, so the picture stays readable
                    node_id = group_of[c.id] = f"{c.identity}#credentials"
                    label = f"{per_identity[c.identity]} {c.kind.replace('_', ' ')}s"
                    reasons = [
                        f"{per_identity[c.identity]} credentials of {c.identity}: {r}"
                        for r in reasons[:1]
                    ]
                graph.add(
                    Node(node_id, NodeKind.CREDENTIAL, label, risk, reasons, {"kind": c.kind})
                )
                if c.identity in known:
                    graph.connect(
                        Edge(
                            node_id,
                            c.identity,
                            EdgeKind.AUTHENTICATES,
                            f"authenticates as {c.identity}",
                        )
                    )
                elif c.agent:
                    graph.connect(
                        Edge(c.agent, node_id, EdgeKind.ACTS_AS, q.why_agent(c.properties, c.agent))
                    )
            for g in grants:
                graph.add(Node(g.system, NodeKind.SYSTEM, g.system))
                graph.connect(
                    Edge(
                        group_of.get(g.subject, g.subject),
                        g.system,
                        EdgeKind.GRANT,
                        g.reason,
                        g.resource,
                        tuple(g.permissions or ()),
                    )
                )
        for node in graph.nodes.values():
            if node.kind == NodeKind.AGENT:
                below = [
                    graph.nodes[e.target].risk
                    for e in graph.edges
                    if e.source == node.id and e.target in graph.nodes
                ]
                node.risk = worst(node.risk, *below)
        return graph

    def escalation_paths(
        self, *, account: str | None = None, limit: int = 1000
    ) -> tuple[list[dict[str, Any]], bool]:
        """Identities that can become an administrator, with each step and its reason."""
        with self._db.read() as connection:
            return escalation.paths(connection, account=account, limit=limit)

    def escalation_graph(self, *, account: str | None = None, limit: int = 300) -> Graph:
        """The escalation paths as a graph: escalation edges between identities."""
        found, _ = self.escalation_paths(account=account, limit=limit)
        return escalation.graph(found)

    def systems(self) -> list[dict[str, Any]]:
        with self._db.read() as connection:
            counts: dict[str, int] = dict(
                connection.execute(
                    sa.select(_G.c.system, sa.func.count())
                    .where(_G.c.gone_at.is_(None))
                    .group_by(_G.c.system)
                ).all()
            )
            return [
                {"id": s.id, "kind": s.kind, "name": s.name, "grants": int(counts.get(s.id, 0))}
                for s in connection.execute(sa.select(_S).order_by(_S.c.id))
            ]


def _matches(resource: str, wanted: str) -> bool:
    """Does a grant on ``resource`` (itself possibly a glob, like ``arn:…:bucket/*``) cover
    ``wanted``?
    """
    return (
        resource == wanted
        or fnmatch.fnmatchcase(wanted, resource)
        or fnmatch.fnmatchcase(resource, wanted)
    )
