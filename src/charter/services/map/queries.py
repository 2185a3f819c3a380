"""Read helpers the map's queries share: chunked IN look-ups, who has left, copies of a secret."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.enums import AgentState, PersonStatus
from charter.services.map.graph import Node, NodeKind, Risk
from charter.store import schema

_C = schema.credentials
_IN = 900  # bound parameters per IN list (SQLite's limit is generous; PostgreSQL's is 65535)


def chunks(values: Iterable[str]) -> Iterator[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), _IN):
        yield items[start : start + _IN]


def rows(
    connection: Connection,
    table: sa.Table,
    column: sa.Column[Any],
    values: Iterable[str],
    also: sa.ColumnElement[bool] | None = None,
) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks(values):
        query = sa.select(table).where(column.in_(chunk), table.c.gone_at.is_(None))
        out += connection.execute(query if also is None else query.where(also)).all()
    return out


def departed(connection: Connection) -> set[str]:
    return set(
        connection.execute(
            sa.select(schema.people.c.email).where(
                schema.people.c.status == PersonStatus.DEPARTED.value
            )
        ).scalars()
    )


def copies(connection: Connection, fingerprints: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in chunks(fingerprints):
        out.update(
            connection.execute(
                sa.select(_C.c.fingerprint, sa.func.count())
                .where(_C.c.fingerprint.in_(chunk), _C.c.gone_at.is_(None))
                .group_by(_C.c.fingerprint)
            ).all()
        )
    return out


# -- blast radius ---------------------------------------------------------------------


def agent_node(row: Any) -> Node:
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


def why_agent(properties: Any, agent: str | None) -> str:
    found = ((properties or {}).get("attribution") or {}).get("agent") or {}
    evidence = found.get("evidence") or []
    confidence = found.get("confidence")
    text = "; ".join(evidence) or f"attributed to {agent}"
    return f"{text} (confidence {confidence})" if confidence is not None else text
