"""Owner departure: a leaver's agents go to their manager as *pending* ownership.

When the directory says an owner has departed, each of their agents gets the
nearest active manager as ``pending_owner`` (one transaction per pass, an
``agent.pending_transfer`` event and a notice each). The pending owner accepts
with ``charter agent accept NAME --by EMAIL`` (a registry transfer, audited);
if nobody accepts within the policy's ``departure.grace``, the agent is
suspended. Run by the worker after every directory import (the ``people``
change counter) and periodically; every step is guarded, so it is idempotent.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.agent import Agent
from charter.domain.audit import EventDraft
from charter.domain.enums import AgentState, PersonStatus
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.lifecycle import Transition
from charter.domain.moments import utc
from charter.errors import Conflict, PermissionDenied
from charter.services.agent_registry import RegistryService
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.governance import agent_writes, notices
from charter.store import schema
from charter.store.database import Database

_A, _P = schema.agents, schema.people


def successor(people: dict[str, Any], email: str) -> str | None:
    """The nearest active manager above ``email`` (cycle-safe)."""
    seen: set[str] = set()
    current = people.get(email)
    while current is not None and current.email not in seen:
        seen.add(current.email)
        manager = people.get(current.manager) if current.manager else None
        if manager is None:
            return None
        if manager.status == PersonStatus.ACTIVE.value:
            return str(manager.email)
        current = manager
    return None


class DepartureService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        policy: Callable[[], GovernancePolicy],
        registry: RegistryService,
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._policy = policy
        self._registry = registry

    def apply(self, *, actor: str) -> builtins.list[dict[str, str]]:
        """Pend transfers for leavers' agents and suspend what was not accepted in time."""
        now = self._clock.now()
        actions: builtins.list[dict[str, str]] = []
        with self._db.write() as connection:
            people = {row.email: row for row in connection.execute(sa.select(_P))}
            departed = [e for e, p in people.items() if p.status != PersonStatus.ACTIVE.value]
            if departed:
                rows = connection.execute(
                    sa.select(_A)
                    .where(_A.c.owner.in_(departed), _A.c.state != AgentState.DECOMMISSIONED.value)
                    .order_by(_A.c.name)
                ).all()
                for row in rows:
                    action = self._pend(connection, row, people, actor, now)
                    if action:
                        actions.append(action)
            actions.extend(self._lapse(connection, actor, now))
        return actions

    def _pend(
        self, connection: Connection, row: Any, people: dict[str, Any], actor: str, now: dt.datetime
    ) -> dict[str, str] | None:
        pending = row.pending_owner
        if (
            pending
            and people.get(pending) is not None
            and (people[pending].status == PersonStatus.ACTIVE.value)
        ):
            return None  # already pending with someone who is still here
        heir = successor(people, row.owner)
        if heir is None or heir == pending:
            return None  # nobody to give it to: the agent-owner-departed finding says so
        moved = connection.execute(
            sa.update(_A)
            .where(
                _A.c.name == row.name,
                _A.c.owner == row.owner,
                (
                    _A.c.pending_owner.is_(None)
                    if pending is None
                    else _A.c.pending_owner == pending
                ),
            )
            .values(
                pending_owner=heir,
                pending_owner_since=row.pending_owner_since or now,
                updated_at=now,
            )
        )
        if moved.rowcount != 1:
            return None
        grace = self._policy().departure.grace
        deadline = utc(row.pending_owner_since or now) + dt.timedelta(seconds=grace)
        self._audit.record(
            connection,
            EventDraft(
                actor,
                "agent.pending_transfer",
                "agent",
                row.name,
                {"owner": row.owner, "pending_owner": pending},
                {
                    "pending_owner": heir,
                    "reason": f"owner {row.owner} has left",
                    "accept_by": deadline.isoformat(),
                },
            ),
        )
        notices.send(
            connection,
            key=f"ownership.pending:{row.name}:{heir}",
            recipient=heir,
            kind="ownership.pending",
            agent=row.name,
            subject=f"You are asked to own {row.name} ({row.owner} has left)",
            body=f"Accept by {deadline:%Y-%m-%d} or it is suspended: "
            f"charter agent accept {row.name} --by {heir}",
            now=now,
        )
        return {"agent": row.name, "action": "pending_transfer", "to": heir}

    def _lapse(
        self, connection: Connection, actor: str, now: dt.datetime
    ) -> builtins.list[dict[str, str]]:
        cutoff = now - dt.timedelta(seconds=self._policy().departure.grace)
        rows = connection.execute(
            sa.select(_A.c.name, _A.c.owner, _A.c.pending_owner).where(
                _A.c.pending_owner.is_not(None),
                _A.c.pending_owner_since <= cutoff,
                _A.c.state == AgentState.ACTIVE.value,
            )
        ).all()
        out = []
        for name, owner, pending in rows:
            if agent_writes.transition(
                connection,
                self._audit,
                name=name,
                to=Transition.SUSPEND,
                actor=actor,
                reason=f"{pending} did not accept ownership within the grace period after "
                f"{owner} left",
                now=now,
                expect=AgentState.ACTIVE,
            ):
                notices.send(
                    connection,
                    key=f"ownership.lapsed:{name}:{pending}",
                    recipient=pending,
                    kind="ownership.lapsed",
                    agent=name,
                    subject=f"{name} was suspended",
                    body=f"Nobody accepted {name} in time. Accept it, then resume it: "
                    f"charter agent accept {name} --by {pending}; charter agent resume {name}",
                    now=now,
                )
                out.append({"agent": name, "action": "suspended", "to": str(pending)})
        return out

    def accept(self, name: str, *, by: str, actor: str) -> Agent:
        """The pending owner takes the agent over (a registry transfer, audited)."""
        by = (by or "").strip().lower()
        agent = self._registry.get(name)
        if agent.pending_owner is None:
            raise Conflict(f"{name} has no pending owner", field="agent")
        if by != agent.pending_owner:
            raise PermissionDenied(
                f"{name} is pending with {agent.pending_owner}; only they may accept it",
                field="by",
            )
        return self._registry.transfer(
            name, by, actor=actor, reason=f"accepted by {by} after {agent.owner} left"
        )
