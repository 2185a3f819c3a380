"""Decommissioning: everything an agent can still authenticate with, and taking it all away.

``plan`` lists, across systems, every credential, grant, identity and token the
agent holds, each marked as *Charter revokes it* (the agent's state, its
enrolled keys and outstanding tokens, JIT grants, scheduled rotations, pending
reviews) or *a task is filed* (what lives in another system: an AWS key, a
GitHub token, a role's grants, a secret still written in a file), with the
exact steps. ``apply`` does the Charter part in one transaction — one ``agent.decommission``
event records what was revoked and which tasks were filed — and the agent's
enrolled keys are then revoked through the token service. Outstanding access
tokens need no call: the token service treats every token issued before an
agent's last state change as inactive, so decommissioning ends them at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.enums import AgentState
from charter.domain.governance.review_model import ItemStatus
from charter.domain.lifecycle import Transition
from charter.errors import CharterError, Conflict, InvalidInput
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.governance import agent_writes
from charter.services.governance.credential_steps import revoke_steps, stored
from charter.services.governance.jit import COUNTER, JitStatus
from charter.services.governance.rotation import OPEN, RotationStatus
from charter.services.governance.tasks import file_task
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import jit_grants, review_items, rotations
from charter.store.versions import bump_version

if TYPE_CHECKING:
    from charter.services.tokens.service import TokenService

_C, _I, _G = schema.credentials, schema.identities, schema.grants


@dataclass(frozen=True, slots=True)
class PlanItem:
    kind: str
    id: str
    system: str | None
    controlled: bool
    action: str
    steps: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "system": self.system,
            "by": "charter" if self.controlled else "task",
            "action": self.action,
            "steps": list(self.steps),
        }


@dataclass(frozen=True, slots=True)
class DecommissionPlan:
    agent: str
    owner: str
    state: str
    items: list[PlanItem]

    @property
    def charter_items(self) -> list[PlanItem]:
        return [i for i in self.items if i.controlled]

    @property
    def task_items(self) -> list[PlanItem]:
        return [i for i in self.items if not i.controlled]

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "owner": self.owner,
            "state": self.state,
            "charter_revokes": [i.to_dict() for i in self.charter_items],
            "tasks": [i.to_dict() for i in self.task_items],
        }


@dataclass(slots=True)
class DecommissionResult:
    plan: DecommissionPlan
    tasks: list[str] = field(default_factory=list)
    revoked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.plan.to_dict(),
            "state": AgentState.DECOMMISSIONED.value,
            "filed_tasks": self.tasks,
            "revoked": self.revoked,
            "problems": self.problems,
        }


class DecommissionService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        tokens: Callable[[], TokenService] | None = None,
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._tokens = tokens

    def _token_items(self, name: str) -> list[PlanItem]:
        if self._tokens is None:
            return []
        items = []
        try:
            keys = self._tokens().agent_keys(name)
        except CharterError:
            keys = []
        now = self._clock.now()
        for key in keys:
            if key.usable(now):
                items.append(
                    PlanItem(
                        "charter-key",
                        key.kid,
                        "charter",
                        True,
                        f"revoke enrolled key {key.kid} ({key.alg})",
                    )
                )
        return items

    def _plan(self, connection: Connection, name: str) -> DecommissionPlan:
        agent = agent_writes.agent_row(connection, name)
        if agent.state == AgentState.DECOMMISSIONED.value:
            raise Conflict(f"agent {name} is already decommissioned", field="state")
        items = [
            PlanItem(
                "agent",
                name,
                None,
                True,
                f"state {agent.state} → decommissioned: "
                "every decision denies, no token is issued, and every access token "
                "already issued is inactive at once",
            )
        ]
        for grant_id, status in connection.execute(
            sa.select(jit_grants.c.id, jit_grants.c.status).where(
                jit_grants.c.agent == name,
                jit_grants.c.status.in_((JitStatus.PENDING.value, JitStatus.APPROVED.value)),
            )
        ):
            items.append(
                PlanItem(
                    "jit",
                    grant_id,
                    "charter",
                    True,
                    "deny the pending request"
                    if status == "pending"
                    else "revoke the just-in-time grant",
                )
            )
        for rotation_id in connection.execute(
            sa.select(rotations.c.id).where(rotations.c.agent == name, rotations.c.status.in_(OPEN))
        ).scalars():
            items.append(PlanItem("rotation", rotation_id, "charter", True, "cancel the rotation"))
        for campaign in connection.execute(
            sa.select(review_items.c.campaign).where(
                review_items.c.agent == name, review_items.c.status == ItemStatus.PENDING.value
            )
        ).scalars():
            items.append(
                PlanItem(
                    "review", f"{campaign}/{name}", "charter", True, "cancel the pending review"
                )
            )
        identities = connection.execute(
            sa.select(_I.c.id, _I.c.kind, _I.c.name, _I.c.system)
            .where(_I.c.agent == name, _I.c.gone_at.is_(None))
            .order_by(_I.c.id)
        ).all()
        identity_ids = [i.id for i in identities]
        credentials = connection.execute(
            sa.select(_C)
            .where(
                _C.c.gone_at.is_(None), sa.or_(_C.c.agent == name, _C.c.identity.in_(identity_ids))
            )
            .order_by(_C.c.id)
        ).all()
        for row in credentials:
            items.append(
                PlanItem(
                    "credential",
                    row.id,
                    f"{row.source}:{row.account}",
                    False,
                    f"revoke {row.provider} {row.kind.replace('_', ' ')} {row.preview}",
                    revoke_steps(stored(row)),
                )
            )
        subjects = identity_ids + [c.id for c in credentials]
        for grant in connection.execute(
            sa.select(_G.c.id, _G.c.system, _G.c.reason)
            .where(_G.c.gone_at.is_(None), _G.c.subject.in_(subjects))
            .order_by(_G.c.id)
        ):
            items.append(
                PlanItem(
                    "grant",
                    grant.id,
                    grant.system,
                    False,
                    f"remove the grant: {grant.reason}",
                    (f"Remove this access in {grant.system}: {grant.reason}",),
                )
            )
        for identity in identities:
            items.append(
                PlanItem(
                    "identity",
                    identity.id,
                    identity.system,
                    False,
                    f"disable, then delete {identity.kind.replace('_', ' ')} {identity.name}",
                    (
                        f"Disable {identity.name} in {identity.system}; delete it "
                        "after a waiting period.",
                    ),
                )
            )
        return DecommissionPlan(name, agent.owner, agent.state, items)

    def plan(self, name: str) -> DecommissionPlan:
        with self._db.read() as connection:
            plan = self._plan(connection, name)
        return DecommissionPlan(
            plan.agent,
            plan.owner,
            plan.state,
            plan.items[:1] + self._token_items(name) + plan.items[1:],
        )

    def apply(self, name: str, *, actor: str, reason: str) -> DecommissionResult:
        if not reason or not reason.strip():
            raise InvalidInput("a reason is required", field="reason")
        now = self._clock.now()
        token_items = self._token_items(name)
        with self._db.write() as connection:
            base = self._plan(connection, name)
            plan = DecommissionPlan(
                base.agent, base.owner, base.state, base.items[:1] + token_items + base.items[1:]
            )
            result = DecommissionResult(plan)
            result.revoked = self._revoke_controlled(connection, name, actor, now)
            for item in plan.task_items:
                result.tasks.append(
                    file_task(
                        connection,
                        kind="decommission",
                        target_type=item.kind,
                        target=item.id,
                        title=f"Decommission {name}: {item.action}",
                        steps=list(item.steps),
                        actor=actor,
                        now=now,
                        agent=name,
                        system=item.system,
                        assignee=plan.owner,
                    )
                )
            if not agent_writes.transition(
                connection,
                self._audit,
                name=name,
                to=Transition.DECOMMISSION,
                actor=actor,
                reason=reason.strip(),
                now=now,
                detail={
                    "revoked": dict(result.revoked),
                    "tasks": len(result.tasks),
                    "task_targets": [i.id for i in plan.task_items][:50],
                },
            ):
                raise Conflict(f"agent {name} changed meanwhile; plan again", field="state")
        self._revoke_tokens(name, token_items, result, actor)
        return result

    def _revoke_controlled(
        self, connection: Connection, name: str, actor: str, now: dt.datetime
    ) -> dict[str, int]:
        j = jit_grants
        denied = connection.execute(
            sa.update(j)
            .where(j.c.agent == name, j.c.status == JitStatus.PENDING.value)
            .values(
                status=JitStatus.DENIED.value,
                decided_by=actor,
                decided_at=now,
                decision_reason="agent decommissioned",
            )
        ).rowcount
        revoked = connection.execute(
            sa.update(j)
            .where(j.c.agent == name, j.c.status == JitStatus.APPROVED.value)
            .values(status=JitStatus.REVOKED.value, ends_at=now)
        ).rowcount
        if denied or revoked:
            bump_version(connection, COUNTER)
        cancelled = connection.execute(
            sa.update(rotations)
            .where(rotations.c.agent == name, rotations.c.status.in_(OPEN))
            .values(
                status=RotationStatus.CANCELLED.value, finished_at=now, note="agent decommissioned"
            )
        ).rowcount
        reviews = connection.execute(
            sa.update(review_items)
            .where(review_items.c.agent == name, review_items.c.status == ItemStatus.PENDING.value)
            .values(
                status=ItemStatus.CANCELLED.value,
                decided_at=now,
                decided_by=actor,
                reason="agent decommissioned",
            )
        ).rowcount
        return {
            "jit_requests_denied": denied,
            "jit_grants_revoked": revoked,
            "rotations_cancelled": cancelled,
            "reviews_cancelled": reviews,
        }

    def _revoke_tokens(
        self, name: str, items: list[PlanItem], result: DecommissionResult, actor: str
    ) -> None:
        if self._tokens is None:
            if items:
                result.problems.append("the token service is not available: keys not revoked")
            return
        tokens = self._tokens()
        keys = 0
        for item in items:
            try:
                tokens.revoke_agent_key(name, item.id, actor=actor, reason="decommissioned")
                keys += 1
            except CharterError as exc:  # the agent is already decommissioned: refused anyway
                result.problems.append(f"{item.kind} {item.id}: {exc}")
        result.revoked["charter_keys"] = keys
