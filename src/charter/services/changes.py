"""Separation of duties: a change that widens an agent's access waits for a second person.

Three kinds of change can give an active agent more than it had:

* a charter version that allows more (decided on the compiled rules by
  :func:`charter.domain.containment.charter_widenings`, conservatively);
* a just-in-time grant (kept in ``jit_grants``, listed here as ``jit_grant``);
* a resume by someone other than whoever suspended the agent (an admin's
  suspension for an incident must not be undone by the owner alone).

Such a change becomes a *proposal* (``change_proposals``); a narrowing change
applies at once. A proposal is applied only when someone the governance
policy's ``approvals`` section names — and who is not the requester, admins
included — approves it; the approval and the change it applies are one
transaction, and the audit log names both people. A charter proposal is tied to
the version it was made against: if the charter moved on, it cannot be applied.
"""

from __future__ import annotations

import builtins
import datetime as dt
import difflib
import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.agent import Agent
from charter.domain.audit import EventDraft
from charter.domain.charter import CharterSpec
from charter.domain.charter_parsing import parse_charter
from charter.domain.containment import charter_widenings
from charter.domain.enums import AgentState
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.lifecycle import Transition
from charter.domain.proposal import (
    POLICY_KEY,
    Proposal,
    ProposalKind,
    ProposalStatus,
    jit_proposal,
    proposal_of_row,
)
from charter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from charter.services.agent_registry import Registered, RegistryService, render_yaml
from charter.services.approvals import approval_refusal
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import jit_grants
from charter.store.proposals_schema import change_proposals

if TYPE_CHECKING:
    from charter.services.governance.jit import JitService

__all__ = ["ChangeService", "Proposal", "ProposalKind", "ProposalStatus"]

_C = change_proposals
_J = jit_grants
_A = schema.agents
_E = schema.events
JIT_PREFIX = "jit-"


def charter_diff_text(old: CharterSpec, new: CharterSpec, base_version: int) -> str:
    before = render_yaml(old.document()).splitlines(keepends=True)
    after = render_yaml(new.document()).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"v{base_version}", "proposed"))


class ChangeService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        registry: RegistryService,
        policy: Callable[[], GovernancePolicy],
        jit: Callable[[], JitService],
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._registry = registry
        self._policy = policy
        self._jit = jit

    def approvers(self, kind: ProposalKind) -> list[str]:
        approvals = self._policy().approvals
        return list(getattr(approvals, POLICY_KEY[kind]))

    # -- proposing ------------------------------------------------------------------------------
    def _propose(
        self,
        connection: Connection,
        agent: Agent,
        kind: ProposalKind,
        *,
        actor: str,
        reason: str,
        payload: dict[str, Any],
        diff: dict[str, Any],
    ) -> Proposal:
        now = self._clock.now()
        proposal_id = f"chg-{uuid.uuid4().hex[:10]}"
        approvers = self.approvers(kind)
        connection.execute(
            sa.insert(_C).values(
                id=proposal_id,
                kind=kind.value,
                agent=agent.name,
                owner=agent.owner,
                requested_by=actor,
                requested_at=now,
                reason=reason[:2000],
                payload={**payload, "approvers": approvers},
                diff=diff,
                base_version=agent.charter_version,
                status=ProposalStatus.PENDING.value,
                expires_at=now + dt.timedelta(seconds=self._policy().approvals.expire_after),
            )
        )
        self._audit.record(
            connection,
            EventDraft(
                actor,
                "change.propose",
                "change",
                proposal_id,
                None,
                {
                    "kind": kind.value,
                    "agent": agent.name,
                    "requested_by": actor,
                    "reason": reason,
                    "widenings": [w["message"] for w in diff.get("widenings", [])],
                    "approvers": approvers,
                },
            ),
        )
        row = connection.execute(sa.select(_C).where(_C.c.id == proposal_id)).one()
        return proposal_of_row(row, now)

    def update_charter(
        self, spec: CharterSpec, *, actor: str, reason: str = "updated"
    ) -> Registered | Proposal:
        """Apply a narrowing (or equal) charter at once; propose a widening one.

        Active and suspended agents are guarded (a suspended agent may be resumed by
        its owner); proposed agents still need an admin's activation anyway.
        """
        with self._db.write() as connection:
            agent = self._registry.agent_in(connection, spec.name)
            self._registry.check_update(agent, spec)
            guarded = agent.state in (AgentState.ACTIVE, AgentState.SUSPENDED)
            if not guarded or agent.charter is None:
                return self._registry.update_in(connection, spec, actor=actor, reason=reason)
            widenings = charter_widenings(agent.charter, spec)
            if not widenings:
                return self._registry.update_in(connection, spec, actor=actor, reason=reason)
            diff = {
                "widenings": [w.to_dict() for w in widenings],
                "text": charter_diff_text(agent.charter, spec, agent.charter_version),
            }
            return self._propose(
                connection,
                agent,
                ProposalKind.CHARTER_UPDATE,
                actor=actor,
                reason=reason,
                payload={"document": spec.document()},
                diff=diff,
            )

    def _last_suspension(self, connection: Connection, name: str) -> tuple[str, str] | None:
        row = connection.execute(
            sa.select(_E.c.actor, _E.c.summary)
            .where(_E.c.target == name, _E.c.action == "agent.suspend")
            .order_by(_E.c.seq.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        try:
            why = str(json.loads(row.summary).get("after", {}).get("reason", ""))
        except (ValueError, AttributeError):
            why = ""
        return str(row.actor), why

    def resume(
        self, name: str, *, actor: str, reason: str, admin: bool = False
    ) -> Agent | Proposal:
        """Resume at once when an admin asks or the requester suspended it themselves.

        Anyone else (an owner undoing an admin's, the worker's or the CLI operator's
        suspension) gets a proposal.
        """
        if not reason.strip():
            raise InvalidInput("a reason is required", field="reason")
        with self._db.write() as connection:
            agent = self._registry.agent_in(connection, name)
            last = self._last_suspension(connection, name)
            by_self = last is not None and last[0].strip().lower() == actor.strip().lower()
            if admin or by_self or agent.state != AgentState.SUSPENDED:
                # (a state other than suspended: the transition explains why not)
                return self._registry.transition_in(
                    connection, name, Transition.RESUME, actor=actor, reason=reason
                )
            suspender, why = last if last is not None else ("unknown", "")
            message = f"resumes {name}, suspended by {suspender}" + (f": {why}" if why else "")
            diff = {
                "widenings": [{"kind": "state", "rule": None, "message": message}],
                "text": "-state: suspended\n+state: active\n",
            }
            return self._propose(
                connection,
                agent,
                ProposalKind.RESUME,
                actor=actor,
                reason=reason,
                payload={"suspended_by": suspender},
                diff=diff,
            )

    # -- reading --------------------------------------------------------------------------------
    def _jit_rows(self, connection: Connection, status: str | None, agent: str | None) -> list[Any]:
        query = (
            sa.select(_J, _A.c.owner)
            .join(_A, _A.c.name == _J.c.agent)
            .order_by(_J.c.requested_at.desc(), _J.c.id)
            .limit(1000)
        )
        if status is not None:
            query = query.where(_J.c.status == status)
        if agent:
            query = query.where(_J.c.agent == agent)
        return list(connection.execute(query))

    def list(
        self,
        *,
        status: ProposalStatus | None = ProposalStatus.PENDING,
        agent: str | None = None,
        visible_to: str | None = None,
        limit: int = 200,
    ) -> builtins.list[Proposal]:
        """Proposals, newest first (JIT requests among them).

        ``visible_to``: an owner sees proposals for agents they own and those they may
        approve; None sees everything.
        """
        now = self._clock.now()
        query = sa.select(_C).order_by(_C.c.requested_at.desc(), _C.c.id).limit(1000)
        if agent:
            query = query.where(_C.c.agent == agent)
        if status in (ProposalStatus.PENDING, ProposalStatus.EXPIRED):
            query = query.where(_C.c.status.in_(["pending", "expired"]))
        elif status is not None:
            query = query.where(_C.c.status == status.value)
        jit_status = {
            "pending": "pending",
            "approved": "approved",
            "rejected": "denied",
            "expired": "expired",
        }
        with self._db.read() as connection:
            found = [proposal_of_row(r, now) for r in connection.execute(query)]
            wanted = jit_status[status.value] if status is not None else None
            approvers = self.approvers(ProposalKind.JIT_GRANT)
            found += [
                jit_proposal(r, approvers, now) for r in self._jit_rows(connection, wanted, agent)
            ]
            found = [p for p in found if status is None or p.status == status]
            if visible_to is not None:
                found = [p for p in found if self._visible(connection, p, visible_to)]
        found.sort(key=lambda p: (p.requested_at, p.id), reverse=True)
        return found[:limit]

    def _owner(self, connection: Connection, proposal: Proposal) -> str:
        """The agent's owner now (it may have been transferred since the proposal)."""
        owner = connection.execute(
            sa.select(_A.c.owner).where(_A.c.name == proposal.agent)
        ).scalar()
        return str(owner or proposal.owner)

    def _visible(self, connection: Connection, proposal: Proposal, who: str) -> bool:
        who = who.strip().lower()
        if who in (self._owner(connection, proposal), proposal.requested_by.lower()):
            return True
        return self._refusal(connection, proposal, who) is None

    def may_decide(self, proposal: Proposal, who: str) -> bool:
        """Whether ``who`` may approve ``proposal`` now (what a person's inbox lists)."""
        with self._db.read() as connection:
            return self._refusal(connection, proposal, who.strip().lower()) is None

    def _refusal(self, connection: Connection, proposal: Proposal, approver: str) -> str | None:
        """Checked against the policy in force now, not the one when it was proposed."""
        return approval_refusal(
            connection,
            self.approvers(proposal.kind),
            approver=approver,
            requester=proposal.requested_by,
            owner=self._owner(connection, proposal),
        )

    def get(self, proposal_id: str, *, visible_to: str | None = None) -> Proposal:
        now = self._clock.now()
        with self._db.read() as connection:
            found = self._get(connection, proposal_id, now)
            if visible_to is not None and not self._visible(connection, found, visible_to):
                raise NotFound(f"no change {proposal_id!r}", field="id")
            return found

    def _get(self, connection: Connection, proposal_id: str, now: dt.datetime) -> Proposal:
        if proposal_id.startswith(JIT_PREFIX):
            row = connection.execute(
                sa.select(_J, _A.c.owner)
                .join(_A, _A.c.name == _J.c.agent)
                .where(_J.c.id == proposal_id)
            ).first()
            if row is not None:
                return jit_proposal(row, self.approvers(ProposalKind.JIT_GRANT), now)
        else:
            row = connection.execute(sa.select(_C).where(_C.c.id == proposal_id)).first()
            if row is not None:
                return proposal_of_row(row, now)
        raise NotFound(f"no change {proposal_id!r}", field="id")

    # -- deciding -------------------------------------------------------------------------------
    def approve(
        self, proposal_id: str, *, by: str, actor: str, reason: str | None = None
    ) -> Proposal:
        by = (by or "").strip().lower()
        if proposal_id.startswith(JIT_PREFIX):
            self._jit().approve(proposal_id, by=by, actor=actor, reason=reason)
            return self.get(proposal_id)
        now = self._clock.now()
        with self._db.write() as connection:
            proposal = self._pending(connection, proposal_id, now)
            refusal = self._refusal(connection, proposal, by)
            if refusal is not None:
                raise PermissionDenied(refusal, field="by")
            agent = self._registry.agent_in(connection, proposal.agent)
            note = f"change {proposal.id}: asked by {proposal.requested_by}, approved by {by}"
            if proposal.kind == ProposalKind.CHARTER_UPDATE:
                if agent.charter_version != proposal.base_version:
                    raise Conflict(
                        f"the charter of {agent.name} changed since this proposal "
                        f"(v{proposal.base_version} → v{agent.charter_version}); propose it again",
                        field="base_version",
                    )
                spec = parse_charter(proposal.payload["document"])
                self._registry.update_in(
                    connection, spec, actor=actor, reason=f"{proposal.reason} ({note})"
                )
            else:
                self._registry.transition_in(
                    connection,
                    agent.name,
                    Transition.RESUME,
                    actor=actor,
                    reason=f"{proposal.reason} ({note})",
                )
            self._decide(
                connection,
                proposal,
                ProposalStatus.APPROVED,
                by=by,
                actor=actor,
                reason=reason,
                now=now,
            )
            return proposal_of_row(
                connection.execute(sa.select(_C).where(_C.c.id == proposal_id)).one(), now
            )

    def reject(self, proposal_id: str, *, by: str, actor: str, reason: str) -> Proposal:
        """Reject (or, by the requester, withdraw) a proposal; nothing changes."""
        by = (by or "").strip().lower()
        if not reason or not reason.strip():
            raise InvalidInput("say why the change is rejected", field="reason")
        if proposal_id.startswith(JIT_PREFIX):
            self._jit().deny(proposal_id, by=by, actor=actor, reason=reason)
            return self.get(proposal_id)
        now = self._clock.now()
        with self._db.write() as connection:
            proposal = self._pending(connection, proposal_id, now)
            involved = by in (proposal.requested_by.lower(), self._owner(connection, proposal))
            if not involved and self._refusal(connection, proposal, by) is not None:
                raise PermissionDenied(
                    f"{by} may not decide change {proposal_id}: only its requester, the "
                    f"agent's owner or an approver may reject it",
                    field="by",
                )
            self._decide(
                connection,
                proposal,
                ProposalStatus.REJECTED,
                by=by,
                actor=actor,
                reason=reason,
                now=now,
            )
            return replace(
                proposal,
                status=ProposalStatus.REJECTED,
                decided_by=by,
                decided_at=now,
                decision_reason=reason,
            )

    def _pending(self, connection: Connection, proposal_id: str, now: dt.datetime) -> Proposal:
        proposal = self._get(connection, proposal_id, now)
        if proposal.status != ProposalStatus.PENDING:
            raise Conflict(f"change {proposal_id} is {proposal.status}", field="status")
        return proposal

    def _decide(
        self,
        connection: Connection,
        proposal: Proposal,
        status: ProposalStatus,
        *,
        by: str,
        actor: str,
        reason: str | None,
        now: dt.datetime,
    ) -> None:
        done = connection.execute(
            sa.update(_C)
            .where(_C.c.id == proposal.id, _C.c.status == ProposalStatus.PENDING.value)
            .values(status=status.value, decided_by=by, decided_at=now, decision_reason=reason)
        )
        if done.rowcount != 1:
            raise Conflict(f"change {proposal.id} was decided meanwhile", field="status")
        verb = "approve" if status == ProposalStatus.APPROVED else "reject"
        self._audit.record(
            connection,
            EventDraft(
                actor,
                f"change.{verb}",
                "change",
                proposal.id,
                {"status": "pending"},
                {
                    "status": status.value,
                    "kind": proposal.kind.value,
                    "agent": proposal.agent,
                    "requested_by": proposal.requested_by,
                    "decided_by": by,
                    "reason": reason,
                },
            ),
        )

    def expire(self, *, actor: str) -> builtins.list[str]:
        """Mark pending proposals past their time as expired (they already cannot apply)."""
        now = self._clock.now()
        with self._db.write() as connection:
            ids = [
                r.id
                for r in connection.execute(
                    sa.select(_C.c.id).where(_C.c.status == "pending", _C.c.expires_at <= now)
                )
            ]
            for proposal_id in ids:
                connection.execute(
                    sa.update(_C)
                    .where(_C.c.id == proposal_id)
                    .values(status=ProposalStatus.EXPIRED.value)
                )
                self._audit.record(
                    connection,
                    EventDraft(
                        actor,
                        "change.expire",
                        "change",
                        proposal_id,
                        {"status": "pending"},
                        {"status": "expired"},
                    ),
                )
            return ids
