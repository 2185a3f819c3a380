"""The whole-estate map picture, bounded: a sample of every agent's reach.

The estate map service's overview follows *everything* each agent reaches —
right for an export, but on a million credentials a shadow agent may hold
thousands of identities, and a picture of 3,000 boxes helps nobody. The
console's default view draws, for up to :data:`AGENTS` agents (registered
first, then shadow), at most :data:`PER_AGENT` identities and credentials each,
:data:`PER_IDENTITY` credentials per identity and :data:`PER_SUBJECT` grants per
identity or credential, in six indexed queries whatever the estate's size.
Boxes and edges use the map's own model, risk rules and edge reasons
(``charter.services.map``); clicking an agent opens its complete blast radius.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.enums import AgentState
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
from charter.services.map.queries import agent_node, copies, departed, why_agent
from charter.store import schema
from charter.store.database import Database

AGENTS = 16
PER_AGENT = 4
PER_IDENTITY = 2
PER_SUBJECT = 3

_A, _I, _C, _G = schema.agents, schema.identities, schema.credentials, schema.grants


def _capped(
    connection: Connection, table: sa.Table, key: sa.Column[Any], values: list[str], cap: int
) -> list[Any]:
    """Live rows whose ``key`` is one of ``values``, at most ``cap`` per value (by id)."""
    if not values:
        return []
    number = sa.func.row_number().over(partition_by=key, order_by=table.c.id).label("n")
    inner = sa.select(table, number).where(key.in_(values), table.c.gone_at.is_(None)).subquery()
    return list(connection.execute(sa.select(inner).where(inner.c.n <= cap)))


def estate_sample(db: Database, *, now: dt.datetime, agents: int = AGENTS) -> Graph:
    graph = Graph()
    with db.read() as connection:
        gone = departed(connection)
        chosen = connection.execute(
            sa.select(_A)
            .where(_A.c.state != AgentState.DECOMMISSIONED.value)
            .order_by((_A.c.origin == "discovered").asc(), _A.c.name)
            .limit(agents)
        ).all()
        names = [a.name for a in chosen]
        identities = _capped(connection, _I, _I.c.agent, names, PER_AGENT)
        own_creds = _capped(connection, _C, _C.c.agent, names, PER_AGENT)
        via_identity = _capped(
            connection, _C, _C.c.identity, [i.id for i in identities], PER_IDENTITY
        )
        creds = list({c.id: c for c in [*own_creds, *via_identity]}.values())
        subjects = [i.id for i in identities] + [c.id for c in creds]
        grants = _capped(connection, _G, _G.c.subject, subjects, PER_SUBJECT)
        shared = copies(connection, {c.fingerprint for c in creds})
    admin = {g.subject for g in grants if (g.properties or {}).get("admin")}
    reaching = {i.agent for i in identities} | {c.agent for c in creds}
    for row in chosen:
        if row.name in reaching:
            graph.add(agent_node(row))
    known = set()
    for i in identities:
        risk, reasons = identity_risk(i, now, admin=i.id in admin, departed=gone)
        graph.add(
            Node(
                i.id, NodeKind.IDENTITY, i.name, risk, reasons, {"source": i.source, "kind": i.kind}
            )
        )
        graph.connect(Edge(i.agent, i.id, EdgeKind.ACTS_AS, why_agent(i.properties, i.agent)))
        known.add(i.id)
    for c in creds:
        risk, reasons = credential_risk(c, now, copies=shared.get(c.fingerprint, 1))
        graph.add(
            Node(c.id, NodeKind.CREDENTIAL, c.preview or c.id, risk, reasons, {"kind": c.kind})
        )
        if c.identity in known:
            graph.connect(
                Edge(c.id, c.identity, EdgeKind.AUTHENTICATES, f"authenticates as {c.identity}")
            )
        elif c.agent:
            graph.connect(Edge(c.agent, c.id, EdgeKind.ACTS_AS, why_agent(c.properties, c.agent)))
    for g in grants:
        graph.add(Node(g.system, NodeKind.SYSTEM, g.system))
        graph.connect(
            Edge(
                g.subject,
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
