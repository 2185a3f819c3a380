"""Privilege-escalation paths over the stored estate: the listing and the picture.

Sources that analyse escalation (AWS today) store each identity's shortest
path to an administrator in its ``escalation`` property, and every edge as a
grant with an ``escalation`` property (``escalates_to`` names the identity it
becomes). This reads them back: :func:`paths` for ``charter map --escalation``
and :func:`graph` for the SVG and the console, where escalation edges are
their own kind (:attr:`EdgeKind.ESCALATES`) and drawn apart from grants.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.enums import IdentityKind
from charter.domain.escalation import ADMIN
from charter.services.map.graph import Edge, EdgeKind, Graph, Node, NodeKind, Risk
from charter.store import schema

_I = schema.identities
#: the kinds a path can start from (cloud users and roles)
_KINDS = (IdentityKind.CLOUD_USER.value, IdentityKind.CLOUD_ROLE.value)


def paths(
    connection: Connection, *, account: str | None = None, limit: int = 1000
) -> tuple[list[dict[str, Any]], bool]:
    """Every live identity's path to an administrator (unconditional ones first)."""
    query = sa.select(
        _I.c.id, _I.c.name, _I.c.kind, _I.c.account, _I.c.agent, _I.c.properties
    ).where(_I.c.gone_at.is_(None), _I.c.kind.in_(_KINDS))
    if account:
        query = query.where(_I.c.account == account)
    found = []
    for row in connection.execute(query.order_by(_I.c.id)):
        path = (row.properties or {}).get("escalation")
        if not isinstance(path, dict) or not path.get("steps"):
            continue
        found.append(
            {
                "identity": row.id,
                "name": row.name,
                "kind": row.kind,
                "account": row.account,
                "agent": row.agent,
                "to": path.get("to"),
                "summary": path.get("summary"),
                "conditional": bool(path.get("conditional")),
                "steps": path.get("steps"),
            }
        )
    found.sort(key=lambda p: (p["conditional"], len(p["steps"]), p["identity"]))
    return found[:limit], len(found) > limit


def graph(found: list[dict[str, Any]]) -> Graph:
    """The identities on escalation paths and the edges between them, each with its reason."""
    out = Graph()
    for path in found:
        risk = Risk.MEDIUM if path["conditional"] else Risk.HIGH
        why = f"can become an administrator: {path['summary']}"
        out.add(
            Node(
                path["identity"],
                NodeKind.IDENTITY,
                path["name"],
                risk,
                [why],
                {"account": path["account"], "kind": path["kind"], "agent": path["agent"]},
            )
        )
        for step in path["steps"]:
            source, target = str(step.get("from")), str(step.get("to"))
            if target == ADMIN:
                system = f"aws:{path['account']}"
                out.add(Node(system, NodeKind.SYSTEM, f"{system} (administrator)"))
                target = system
            elif target not in out.nodes:
                out.add(Node(target, NodeKind.IDENTITY, target.rsplit("/", 1)[-1], Risk.HIGH))
            if source not in out.nodes:
                out.add(Node(source, NodeKind.IDENTITY, source.rsplit("/", 1)[-1], risk, [why]))
            out.connect(
                Edge(
                    source,
                    target,
                    EdgeKind.ESCALATES,
                    str(step.get("reason")),
                    permissions=tuple(step.get("actions") or ()),
                )
            )
    return out
