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

import datetime as dt
import fnmatch
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.enums import AgentState, PersonStatus
from charter.errors import InvalidInput, NotFound
from charter.services.clock import Clock
from charter.services.map.graph import (
    Edge,
    EdgeKind,
    Graph,
    Node,
    NodeKind,
    Risk,
    credential_risk,
    identity_risk,
    worst,
)
from charter.store import schema
from charter.store.database import Database

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


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), _IN):
        yield items[start : start + _IN]


@dataclass(slots=True)
class Reach:
    """A query's answer: the graph, and a flat list of what is reached through what."""

    graph: Graph
    start: list[str]
    paths: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "reach": self.paths,
            "truncated": self.truncated,
            **self.graph.to_json(),
        }


class EstateMapService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    # -- shared look-ups ----------------------------------------------------------------
    def _rows(
        self,
        connection: Connection,
        table: sa.Table,
        column: sa.Column[Any],
        values: Iterable[str],
        also: sa.ColumnElement[bool] | None = None,
    ) -> list[Any]:
        out: list[Any] = []
        for chunk in _chunks(values):
            query = sa.select(table).where(column.in_(chunk), table.c.gone_at.is_(None))
            out += connection.execute(query if also is None else query.where(also)).all()
        return out

    def _departed(self, connection: Connection) -> set[str]:
        return set(
            connection.execute(
                sa.select(schema.people.c.email).where(
                    schema.people.c.status == PersonStatus.DEPARTED.value
                )
            ).scalars()
        )

    def _copies(self, connection: Connection, fingerprints: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(fingerprints):
            out.update(
                connection.execute(
                    sa.select(_C.c.fingerprint, sa.func.count())
                    .where(_C.c.fingerprint.in_(chunk), _C.c.gone_at.is_(None))
                    .group_by(_C.c.fingerprint)
                ).all()
            )
        return out

    # -- blast radius ---------------------------------------------------------------------
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
            departed = self._departed(connection)
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
                root = graph.add(_agent_node(row))
                start = [root.id]
            else:
                found = connection.execute(sa.select(_I.c.id).where(_I.c.id == identity)).first()
                if found is None:
                    raise NotFound(f"no identity {identity!r}", field="identity")
                start_ids, start_creds, root, start = [str(identity)], [], None, [str(identity)]
            reach = Reach(graph, start)
            self._walk(connection, reach, root, start_ids, start_creds, depth, limit, now, departed)
        if root is not None:
            root.risk = worst(
                root.risk, *(n.risk for n in graph.nodes.values() if n.kind != NodeKind.SYSTEM)
            )
        return reach

    def _walk(
        self,
        connection: Connection,
        reach: Reach,
        root: Node | None,
        identity_ids: Sequence[str],
        credential_ids: Sequence[str],
        depth: int,
        limit: int,
        now: dt.datetime,
        departed: set[str],
    ) -> None:
        graph = reach.graph
        seen_ids: set[str] = set()
        seen_creds: set[str] = set()
        frontier_ids, frontier_creds = set(identity_ids), set(credential_ids)
        via: dict[str, str] = {}  # node → the start identity/credential it was reached through
        for hop in range(depth):
            found: dict[str, Any] = {}
            if hop == 0 and root is not None:  # the agent's own credentials, by the indexed column
                for c in connection.execute(
                    sa.select(_C).where(_C.c.agent == root.id, _C.c.gone_at.is_(None))
                ):
                    found[c.id] = c
            not_yet = (
                sa.or_(_C.c.agent.is_(None), _C.c.agent != root.id)
                if hop == 0 and root is not None
                else None
            )
            for c in self._rows(
                connection, _C, _C.c.identity, frontier_ids - seen_ids, also=not_yet
            ):
                found.setdefault(c.id, c)
            for c in self._rows(
                connection, _C, _C.c.id, frontier_creds - seen_creds - found.keys()
            ):
                found.setdefault(c.id, c)
            # the same secret elsewhere: ids only, then full rows for the copies not yet seen
            places: dict[str, list[str]] = {}
            for chunk in _chunks({c.fingerprint for c in found.values()}):
                for row in connection.execute(
                    sa.select(_C.c.id, _C.c.fingerprint).where(
                        _C.c.fingerprint.in_(chunk), _C.c.gone_at.is_(None)
                    )
                ):
                    places.setdefault(row.fingerprint, []).append(row.id)
            others = {i for ids in places.values() for i in ids} - found.keys() - seen_creds
            for c in self._rows(connection, _C, _C.c.id, others):
                found[c.id] = c
            creds = [c for c in found.values() if c.id not in seen_creds]
            copies = {fp: len(ids) for fp, ids in places.items()}
            by_fp: dict[str, list[str]] = {}
            new_ids: set[str] = set()
            for c in creds:
                if c.id in seen_creds:
                    continue
                seen_creds.add(c.id)
                risk, reasons = credential_risk(c, now, copies=copies.get(c.fingerprint, 1))
                graph.add(
                    Node(
                        c.id,
                        NodeKind.CREDENTIAL,
                        c.preview or c.id,
                        risk,
                        reasons,
                        {
                            "kind": c.kind,
                            "provider": c.provider,
                            "location": c.location,
                            "agent": c.agent,
                        },
                    )
                )
                by_fp.setdefault(c.fingerprint, []).append(c.id)
                if root is not None and c.agent == root.id:
                    graph.connect(
                        Edge(root.id, c.id, EdgeKind.ACTS_AS, _why_agent(c.properties, root.id))
                    )
                if c.identity:
                    graph.connect(
                        Edge(
                            c.id,
                            c.identity,
                            EdgeKind.AUTHENTICATES,
                            f"{c.kind.replace('_', ' ')} of {c.identity}",
                        )
                    )
                    new_ids.add(c.identity)
                    via.setdefault(c.identity, via.get(c.id, c.id))
            for fp, ids in by_fp.items():
                for other in ids[1:]:
                    graph.connect(
                        Edge(
                            ids[0],
                            other,
                            EdgeKind.SAME_SECRET,
                            f"the same secret (sha256 {fp[:12]}…) is stored in both places",
                        )
                    )
            identities = self._rows(connection, _I, _I.c.id, (frontier_ids | new_ids) - seen_ids)
            grants = self._rows(
                connection, _G, _G.c.subject, [i.id for i in identities] + [c.id for c in creds]
            )
            admin = {g.subject for g in grants if (g.properties or {}).get("admin")}
            next_ids: set[str] = set()
            for i in identities:
                seen_ids.add(i.id)
                risk, reasons = identity_risk(i, now, admin=i.id in admin, departed=departed)
                graph.add(
                    Node(
                        i.id,
                        NodeKind.IDENTITY,
                        i.name,
                        risk,
                        reasons,
                        {
                            "source": i.source,
                            "account": i.account,
                            "kind": i.kind,
                            "owner": i.owner,
                            "agent": i.agent,
                        },
                    )
                )
                if root is not None and i.agent == root.id:
                    graph.connect(
                        Edge(root.id, i.id, EdgeKind.ACTS_AS, _why_agent(i.properties, root.id))
                    )
            for g in grants:
                props = g.properties or {}
                system = graph.add(Node(g.system, NodeKind.SYSTEM, g.system))
                graph.connect(
                    Edge(
                        g.subject,
                        system.id,
                        EdgeKind.GRANT,
                        g.reason,
                        g.resource,
                        tuple(g.permissions or ()),
                    )
                )
                reach.paths.append(
                    {
                        "through": g.subject,
                        "from": via.get(g.subject, g.subject),
                        "system": g.system,
                        "resource": g.resource,
                        "permissions": list(g.permissions or ()),
                        "reason": g.reason,
                        "admin": bool(props.get("admin")),
                        "hop": hop,
                    }
                )
                assumed = props.get("assumes")
                if assumed and assumed not in seen_ids:
                    graph.connect(Edge(g.subject, str(assumed), EdgeKind.ASSUMES, g.reason))
                    next_ids.add(str(assumed))
                    via.setdefault(str(assumed), via.get(g.subject, g.subject))
                if len(reach.paths) >= limit:
                    reach.truncated = True
                    return
            frontier_ids, frontier_creds = next_ids, set()
            if not frontier_ids:
                return

    # -- who can reach --------------------------------------------------------------------
    def who_can_reach(self, system: str, *, resource: str | None = None, limit: int = 500) -> Reach:
        """Every identity and credential with a grant on ``system`` (optionally one resource glob)."""
        now = self._clock.now()
        graph = Graph()
        with self._db.read() as connection:
            if connection.execute(sa.select(_S.c.id).where(_S.c.id == system)).first() is None:
                raise NotFound(
                    f"no system {system!r} (see 'charter map --systems')", field="system"
                )
            departed = self._departed(connection)
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
            identities = {i.id: i for i in self._rows(connection, _I, _I.c.id, subjects)}
            creds = {c.id: c for c in self._rows(connection, _C, _C.c.id, subjects)}
            owners = {c.identity for c in creds.values() if c.identity} - identities.keys()
            identities.update({i.id: i for i in self._rows(connection, _I, _I.c.id, owners)})
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
            departed = self._departed(connection)
            agents = connection.execute(
                sa.select(_A)
                .where(_A.c.state != AgentState.DECOMMISSIONED.value)
                .order_by(_A.c.origin.desc(), _A.c.name)
                .limit(max_agents)
            ).all()
            names = [a.name for a in agents]
            identities = self._rows(connection, _I, _I.c.agent, names)
            creds = self._rows(connection, _C, _C.c.agent, names)
            creds += self._rows(connection, _C, _C.c.identity, [i.id for i in identities])
            creds = list({c.id: c for c in creds}.values())
            grants = self._rows(
                connection, _G, _G.c.subject, [i.id for i in identities] + [c.id for c in creds]
            )
            copies = self._copies(connection, {c.fingerprint for c in creds})
            admin = {g.subject for g in grants if (g.properties or {}).get("admin")}
            reached = {i.agent for i in identities} | {c.agent for c in creds}
            for a in agents:
                if a.name in reached or include_registered_without_reach:
                    graph.add(_agent_node(a))
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
                    Edge(i.agent, i.id, EdgeKind.ACTS_AS, _why_agent(i.properties, i.agent))
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
                        Edge(c.agent, node_id, EdgeKind.ACTS_AS, _why_agent(c.properties, c.agent))
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


def _agent_node(row: Any) -> Node:
    shadow = row.origin == "discovered" and row.state == AgentState.DISCOVERED.value
    reasons = ["shadow AI: discovered, not registered"] if shadow else []
    return Node(
        row.name,
        NodeKind.AGENT,
        row.name,
        Risk.MEDIUM if shadow else Risk.LOW,
        reasons,
        {"state": row.state, "owner": row.owner, "shadow": shadow},
    )


def _why_agent(properties: Any, agent: str | None) -> str:
    found = ((properties or {}).get("attribution") or {}).get("agent") or {}
    evidence = found.get("evidence") or []
    confidence = found.get("confidence")
    text = "; ".join(evidence) or f"attributed to {agent}"
    return f"{text} (confidence {confidence})" if confidence is not None else text


def _matches(resource: str, wanted: str) -> bool:
    """Does a grant on ``resource`` (itself possibly a glob, like ``arn:…:bucket/*``) cover ``wanted``?"""
    return (
        resource == wanted
        or fnmatch.fnmatchcase(wanted, resource)
        or fnmatch.fnmatchcase(resource, wanted)
    )
