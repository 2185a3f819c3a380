"""The blast-radius walk: breadth first from an agent or identity, over the store's indexes.

Each hop reads, by indexed columns only: the credentials of the frontier's
identities (and, first, the agent's own), the other places the same secrets
sit (ids first, full rows only for copies not yet seen), the identities those
credentials authenticate as, and every grant of what was reached; a grant that
``assumes`` another identity puts it in the next hop's frontier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.services.map.graph import (
    Edge,
    EdgeKind,
    Graph,
    Node,
    NodeKind,
    credential_risk,
    identity_risk,
)
from charter.services.map.queries import chunks, rows, why_agent
from charter.store import schema

_I, _C, _G = schema.identities, schema.credentials, schema.grants


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


def walk(
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
        for c in rows(connection, _C, _C.c.identity, frontier_ids - seen_ids, also=not_yet):
            found.setdefault(c.id, c)
        for c in rows(connection, _C, _C.c.id, frontier_creds - seen_creds - found.keys()):
            found.setdefault(c.id, c)
        # the same secret elsewhere: ids only, then full rows for the copies not yet seen
        places: dict[str, list[str]] = {}
        for chunk in chunks({c.fingerprint for c in found.values()}):
            for row in connection.execute(
                sa.select(_C.c.id, _C.c.fingerprint).where(
                    _C.c.fingerprint.in_(chunk), _C.c.gone_at.is_(None)
                )
            ):
                places.setdefault(row.fingerprint, []).append(row.id)
        others = {i for ids in places.values() for i in ids} - found.keys() - seen_creds
        for c in rows(connection, _C, _C.c.id, others):
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
                    Edge(root.id, c.id, EdgeKind.ACTS_AS, why_agent(c.properties, root.id))
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
        identities = rows(connection, _I, _I.c.id, (frontier_ids | new_ids) - seen_ids)
        grants = rows(
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
                    Edge(root.id, i.id, EdgeKind.ACTS_AS, why_agent(i.properties, root.id))
                )
        for g in grants:
            props = g.properties or {}
            if props.get("escalation"):
                target = props.get("escalates_to")
                if target is None:
                    graph.add(Node(g.system, NodeKind.SYSTEM, g.system))
                graph.connect(
                    Edge(
                        g.subject,
                        str(target or g.system),
                        EdgeKind.ESCALATES,
                        g.reason,
                        g.resource,
                        tuple(g.permissions or ()),
                    )
                )
                if target and target not in seen_ids:
                    next_ids.add(str(target))
                    via.setdefault(str(target), via.get(g.subject, g.subject))
                continue
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
