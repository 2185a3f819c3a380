"""Just-in-time access: a time-boxed extra capability, requested with a reason, approved by
someone other than the requester, effective in decisions at once, gone at its end with nobody
acting.

Who may approve is the governance policy's ``approvals.jit`` (default: an admin or
the agent's owner), and never the requester (see :mod:`charter.services.approvals`).
A request whose action or resource does not name its family — ``*``, ``*.read``,
``*:*`` — is refused, or with ``jit.wildcards: admin`` left to an admin to approve.
Durations are capped by ``jit.max_duration``.

An approved grant is an ordinary allow capability with a ``valid`` window
(``from`` = approval, ``until`` = approval + duration). The decision point
merges active grants into the agent's compiled charter (see
``charter.services.decision_snapshot``) and reloads when the ``jit`` change
counter moves, which approve and revoke bump in their transaction. Because
the window is part of the capability, the grant stops allowing at its end even
if nothing reloads; the worker only tidies the status to ``expired``. Deny
rules still win: a JIT grant can never override a charter or org-policy deny.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.charter import Capability, Validity
from charter.domain.enums import AgentState
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.moments import utc
from charter.domain.patterns import parse_pattern
from charter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from charter.services.approvals import approval_refusal
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.governance import notices
from charter.services.governance.agent_writes import agent_row
from charter.store.database import Database
from charter.store.governance_schema import jit_grants
from charter.store.versions import bump_version

_J = jit_grants
COUNTER = "jit"


class JitStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class JitGrant:
    id: str
    agent: str
    action: str
    resource: str
    reason: str
    duration_s: int
    status: JitStatus
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision_reason: str | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None

    def active_at(self, moment: dt.datetime) -> bool:
        return (
            self.status == JitStatus.APPROVED
            and self.starts_at is not None
            and self.ends_at is not None
            and self.starts_at <= moment < self.ends_at
        )

    def capability(self) -> Capability:
        """The allow capability this grant adds, bounded by its window."""
        return Capability(
            action=self.action,
            resource=self.resource,
            valid=Validity.model_validate({"from": self.starts_at, "until": self.ends_at}),
            description=f"just-in-time grant {self.id}: {self.reason}"[:500],
        )

    def to_dict(self) -> dict[str, Any]:
        def iso(moment: dt.datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "id": self.id,
            "agent": self.agent,
            "action": self.action,
            "resource": self.resource,
            "reason": self.reason,
            "duration_s": self.duration_s,
            "status": self.status.value,
            "requested_by": self.requested_by,
            "requested_at": iso(self.requested_at),
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
            "decision_reason": self.decision_reason,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
        }


def is_broad(text: str, *, resource: bool) -> bool:
    """Whether a pattern leaves its family open: the literal text before its first
    wildcard must name an action family (``tickets.``) or a system (``zendesk:``)."""
    pattern = parse_pattern(text, field="resource" if resource else "action")
    if pattern.is_exact:
        return False
    return (":" if resource else ".") not in pattern.literal_prefix


def _grant(row: Any) -> JitGrant:
    def aware(moment: dt.datetime | None) -> dt.datetime | None:
        return utc(moment) if moment is not None else None

    return JitGrant(
        row.id,
        row.agent,
        row.action,
        row.resource,
        row.reason,
        int(row.duration_s),
        JitStatus(row.status),
        row.requested_by,
        utc(row.requested_at),
        row.decided_by,
        aware(row.decided_at),
        row.decision_reason,
        aware(row.starts_at),
        aware(row.ends_at),
    )


def grant_rule_id(grant_id: str) -> str:
    """The rule id an allow from this grant carries in decisions, explain and exports."""
    return f"grant/{grant_id}"


def active_capabilities(
    connection: Connection, now: dt.datetime | None = None
) -> dict[str, list[tuple[str, Capability]]]:
    """Approved grants as (rule id, capability) per agent (for the decision point).

    With ``now``, only grants that have not ended; without, every approved grant
    (the decision point's choice: each capability carries its own window, so one
    that ended allows nothing even before the worker marks it expired).
    """
    query = sa.select(_J).where(_J.c.status == JitStatus.APPROVED.value)
    if now is not None:
        query = query.where(_J.c.ends_at > now)
    out: dict[str, list[tuple[str, Capability]]] = {}
    for row in connection.execute(query.order_by(_J.c.agent, _J.c.id)):
        out.setdefault(row.agent, []).append((grant_rule_id(row.id), _grant(row).capability()))
    return out


class JitService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        policy: Callable[[], GovernancePolicy],
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._policy = policy

    def _row(self, connection: Connection, grant_id: str) -> Any:
        row = connection.execute(sa.select(_J).where(_J.c.id == grant_id)).first()
        if row is None:
            raise NotFound(f"no access request {grant_id!r}", field="id")
        return row

    def request(
        self,
        agent: str,
        *,
        action: str,
        resource: str,
        reason: str,
        actor: str,
        duration: int | None = None,
    ) -> JitGrant:
        policy = self._policy().jit
        duration = duration if duration is not None else policy.default_duration
        if duration <= 0 or duration > policy.max_duration:
            raise InvalidInput(
                f"the duration must be between 1 s and {policy.max_duration} s "
                "(policy jit.max_duration)",
                field="duration",
            )
        if not reason or not reason.strip():
            raise InvalidInput("say why the agent needs this access", field="reason")
        for field, text in (("action", action), ("resource", resource)):
            if is_broad(text, resource=field == "resource") and policy.wildcards == "refuse":
                raise InvalidInput(
                    f"{field} {text!r} is a wildcard that leaves its "
                    f"{'system' if field == 'resource' else 'action family'} open; just-in-time "
                    "access names what it needs (policy jit.wildcards: refuse)",
                    field=field,
                )
        now = self._clock.now()
        grant_id = f"jit-{uuid.uuid4().hex[:10]}"
        with self._db.write() as connection:
            row = agent_row(connection, agent)
            if row.state != AgentState.ACTIVE.value:
                raise Conflict(
                    f"agent {agent} is {row.state}; only active agents get access", field="agent"
                )
            connection.execute(
                sa.insert(_J).values(
                    id=grant_id,
                    agent=agent,
                    action=action,
                    resource=resource,
                    reason=reason.strip()[:2000],
                    duration_s=duration,
                    status=JitStatus.PENDING.value,
                    requested_by=actor,
                    requested_at=now,
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "access.request",
                    "access",
                    grant_id,
                    None,
                    {
                        "agent": agent,
                        "action": action,
                        "resource": resource,
                        "duration_s": duration,
                        "reason": reason.strip(),
                    },
                ),
            )
            notices.send(
                connection,
                key=f"access.request:{grant_id}",
                recipient=row.owner,
                kind="access.request",
                agent=agent,
                subject=f"{agent} asks for {action} on {resource} for {duration // 60} min",
                body=f"Reason: {reason.strip()}. Approve: charter access approve {grant_id} "
                f"--by {row.owner}",
                now=now,
            )
            return _grant(self._row(connection, grant_id))

    def _approvers(self, row: Any) -> list[str]:
        """``approvals.jit``; a wildcard request (``jit.wildcards: admin``) only an admin's."""
        if is_broad(row.action, resource=False) or is_broad(row.resource, resource=True):
            return ["admin"]
        return list(self._policy().approvals.jit)

    def _decide(
        self, grant_id: str, *, by: str, actor: str, approve: bool, reason: str | None
    ) -> JitGrant:
        by = (by or "").strip().lower()
        now = self._clock.now()
        with self._db.write() as connection:
            row = self._row(connection, grant_id)
            if row.status != JitStatus.PENDING.value:
                raise Conflict(f"request {grant_id} is already {row.status}", field="status")
            agent = agent_row(connection, row.agent)
            approvers = self._approvers(row)
            refusal = approval_refusal(
                connection, approvers, approver=by, requester=row.requested_by, owner=agent.owner
            )
            involved = by in {agent.owner, agent.pending_owner, row.requested_by.lower()}
            if refusal is not None and (approve or not involved):
                raise PermissionDenied(refusal, field="by")
            if approve and agent.state != AgentState.ACTIVE.value:
                raise Conflict(f"agent {row.agent} is {agent.state}", field="agent")
            values: dict[str, Any] = {
                "decided_by": by,
                "decided_at": now,
                "decision_reason": reason,
            }
            if approve:
                values |= {
                    "status": JitStatus.APPROVED.value,
                    "starts_at": now,
                    "ends_at": now + dt.timedelta(seconds=int(row.duration_s)),
                }
            else:
                values["status"] = JitStatus.DENIED.value
            done = connection.execute(
                sa.update(_J)
                .where(_J.c.id == grant_id, _J.c.status == JitStatus.PENDING.value)
                .values(**values)
            )
            if done.rowcount != 1:
                raise Conflict(f"request {grant_id} was decided meanwhile", field="status")
            verb = "approve" if approve else "deny"
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    f"access.{verb}",
                    "access",
                    grant_id,
                    {"status": "pending"},
                    {
                        "status": values["status"],
                        "by": by,
                        "requested_by": row.requested_by,
                        "reason": reason,
                        "agent": row.agent,
                        "action": row.action,
                        "resource": row.resource,
                        "ends_at": values["ends_at"].isoformat() if approve else None,
                    },
                ),
            )
            if approve:
                bump_version(connection, COUNTER)
            return _grant(self._row(connection, grant_id))

    def approve(self, grant_id: str, *, by: str, actor: str, reason: str | None = None) -> JitGrant:
        return self._decide(grant_id, by=by, actor=actor, approve=True, reason=reason)

    def deny(self, grant_id: str, *, by: str, actor: str, reason: str | None = None) -> JitGrant:
        return self._decide(grant_id, by=by, actor=actor, approve=False, reason=reason)

    def revoke(self, grant_id: str, *, actor: str, reason: str) -> JitGrant:
        """End an approved grant now (before its window closes)."""
        now = self._clock.now()
        with self._db.write() as connection:
            row = self._row(connection, grant_id)
            if row.status != JitStatus.APPROVED.value or utc(row.ends_at) <= now:
                raise Conflict(f"request {grant_id} is not in force", field="status")
            connection.execute(
                sa.update(_J)
                .where(_J.c.id == grant_id, _J.c.status == JitStatus.APPROVED.value)
                .values(status=JitStatus.REVOKED.value, ends_at=now)
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "access.revoke",
                    "access",
                    grant_id,
                    {"status": "approved"},
                    {"status": "revoked", "reason": reason, "agent": row.agent},
                ),
            )
            bump_version(connection, COUNTER)
            return _grant(self._row(connection, grant_id))

    def expire(self, *, actor: str) -> builtins.list[str]:
        """Mark grants whose window closed as expired (they already allow nothing)."""
        now = self._clock.now()
        with self._db.write() as connection:
            ended = list(
                connection.execute(
                    sa.select(_J.c.id, _J.c.agent).where(
                        _J.c.status == JitStatus.APPROVED.value, _J.c.ends_at <= now
                    )
                )
            )
            done = []
            for grant_id, agent in ended:
                moved = connection.execute(
                    sa.update(_J)
                    .where(_J.c.id == grant_id, _J.c.status == JitStatus.APPROVED.value)
                    .values(status=JitStatus.EXPIRED.value)
                )
                if moved.rowcount == 1:
                    done.append(grant_id)
                    self._audit.record(
                        connection,
                        EventDraft(
                            actor,
                            "access.expire",
                            "access",
                            grant_id,
                            {"status": "approved"},
                            {"status": "expired", "agent": agent},
                        ),
                    )
            if done:
                bump_version(connection, COUNTER)
            return done

    def get(self, grant_id: str) -> JitGrant:
        with self._db.read() as connection:
            return _grant(self._row(connection, grant_id))

    def list(
        self, *, agent: str | None = None, status: JitStatus | None = None, limit: int = 200
    ) -> builtins.list[JitGrant]:
        query = sa.select(_J).order_by(_J.c.requested_at.desc(), _J.c.id).limit(limit)
        if agent:
            query = query.where(_J.c.agent == agent)
        if status is not None:
            query = query.where(_J.c.status == status.value)
        with self._db.read() as connection:
            return [_grant(r) for r in connection.execute(query)]

    def capabilities(self) -> dict[str, builtins.list[tuple[str, Capability]]]:
        with self._db.read() as connection:
            return active_capabilities(connection, self._clock.now())
