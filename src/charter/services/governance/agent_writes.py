"""Agent changes made *inside* a governance transaction.

A workflow's change and its bookkeeping must commit together (a review
decision and the charter version it creates; an expiry suspension and its
audit event). ``RegistryService`` opens its own transaction per call, so
these helpers write the same rows and the same audit events
(``agent.suspend``, ``agent.update`` …, shaped as the registry writes them)
on the caller's connection. Every change is *guarded*: it names the state or
charter version it expects, and does nothing (returns False) if another
worker got there first. That is what makes workflow actions idempotent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.charter import CharterSpec
from charter.domain.enums import AgentState
from charter.domain.lifecycle import Transition, next_state
from charter.errors import Conflict, NotFound
from charter.services.audit import AuditService
from charter.store import schema
from charter.store.versions import bump_version

_A, _V = schema.agents, schema.charter_versions


def agent_row(connection: Connection, name: str) -> Any:
    row = connection.execute(sa.select(_A).where(_A.c.name == name)).first()
    if row is None:
        raise NotFound(f"no agent named {name!r}", field="agent")
    return row


def charter_document(connection: Connection, name: str, version: int) -> dict[str, Any]:
    value = connection.execute(
        sa.select(_V.c.document).where(_V.c.agent == name, _V.c.version == version)
    ).scalar()
    if value is None:
        raise NotFound(f"agent {name!r} has no charter version {version}", field="version")
    return dict(value)


def transition(
    connection: Connection,
    audit: AuditService,
    *,
    name: str,
    to: Transition,
    actor: str,
    reason: str,
    now: dt.datetime,
    expect: AgentState | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Move ``name`` through ``to`` if it is (still) in a state that allows it.

    Returns False when the agent is not in ``expect`` (or not in a state ``to``
    applies to): the action was already done, or no longer applies. ``detail`` is
    added to the event (what else the workflow did, in the same transaction).
    """
    row = agent_row(connection, name)
    current = AgentState(row.state)
    if expect is not None and current != expect:
        return False
    try:
        target = next_state(current, to)
    except Conflict:
        return False
    moved = connection.execute(
        sa.update(_A)
        .where(_A.c.name == name, _A.c.state == current.value)
        .values(state=target.value, updated_at=now)
    )
    if moved.rowcount != 1:
        return False
    audit.record(
        connection,
        EventDraft(
            actor,
            f"agent.{to.value}",
            "agent",
            name,
            {"state": current.value},
            {"state": target.value, "reason": reason, **(detail or {})},
        ),
    )
    bump_version(connection, "charters")
    return True


def new_version(
    connection: Connection,
    audit: AuditService,
    *,
    spec: CharterSpec,
    expect_version: int,
    actor: str,
    reason: str,
    now: dt.datetime,
) -> int:
    """Record ``spec`` as the agent's next charter version; the old one stays.

    Raises :class:`Conflict` if the agent's charter is no longer at
    ``expect_version`` (someone changed it since the plan was shown).
    """
    row = agent_row(connection, spec.name)
    if row.state == AgentState.DECOMMISSIONED.value:
        raise Conflict(f"agent {spec.name!r} is decommissioned", field="state")
    if row.charter_version != expect_version:
        raise Conflict(
            f"the charter of {spec.name} changed since the plan (now v{row.charter_version}, "
            f"planned on v{expect_version}); plan again",
            field="charter_version",
        )
    version = int(row.charter_version) + 1
    moved = connection.execute(
        sa.update(_A)
        .where(_A.c.name == spec.name, _A.c.charter_version == expect_version)
        .values(
            charter_version=version,
            purpose=spec.purpose,
            environment=spec.environment,
            labels=spec.labels,
            expires=spec.expires,
            updated_at=now,
        )
    )
    if moved.rowcount != 1:
        raise Conflict(f"the charter of {spec.name} changed meanwhile; plan again", field="agent")
    connection.execute(
        sa.insert(_V).values(
            agent=spec.name,
            version=version,
            document=spec.document(),
            created_at=now,
            created_by=actor,
            reason=reason,
        )
    )
    audit.record(
        connection,
        EventDraft(
            actor,
            "agent.update",
            "agent",
            spec.name,
            {"version": expect_version},
            {**spec.summary(), "version": version, "reason": reason},
        ),
    )
    bump_version(connection, "charters")
    return version
