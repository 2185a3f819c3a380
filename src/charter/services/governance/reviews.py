"""Access reviews: start a campaign, decide per agent, remind, enforce the deadline.

Every step is plan-then-apply: ``plan_start`` and ``plan_decision`` show exactly
what would change (the agents, the charter diff, a suspension); ``start`` and
``decide`` do it in one transaction with audit events, recomputing the plan
inside the transaction so what is applied is what was checked. Charter versions
are never overwritten, so a reduce or revoke keeps what it replaced.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.agent import CharterVersion
from charter.domain.audit import EventDraft
from charter.domain.charter import CharterSpec
from charter.domain.enums import AgentState, FindingStatus, PersonStatus
from charter.domain.governance.least_privilege import capability_label, charter_least_privilege
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.governance.review_model import (
    DECIDED,
    Campaign,
    CampaignStatus,
    DecisionPlan,
    ItemSnapshot,
    ItemStatus,
    ReviewDecision,
    ReviewItem,
    Scope,
    ScopeKind,
    StartPlan,
)
from charter.domain.lifecycle import Transition
from charter.domain.moments import utc
from charter.domain.patterns import split_resource
from charter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from charter.services.agent_registry import version_diff
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.governance import agent_writes, notices, rollup
from charter.services.governance.activity_facts import ActivityIndex
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import findings, review_campaigns, review_items

_A, _P, _I = schema.agents, schema.people, schema.identities
_C, _IT = review_campaigns, review_items
_REVIEWABLE = (AgentState.ACTIVE.value, AgentState.SUSPENDED.value, AgentState.PROPOSED.value)


def reviewer_for(connection: Connection, owner: str, pending: str | None) -> str:
    """Who reviews an agent: a pending owner, else the owner, else the owner's nearest
    active manager when the owner has left."""
    if pending:
        return str(pending)
    email: str | None = owner
    seen: set[str] = set()
    while email and email not in seen:
        seen.add(email)
        row = connection.execute(
            sa.select(_P.c.status, _P.c.manager).where(_P.c.email == email)
        ).first()
        if row is None or row.status == PersonStatus.ACTIVE.value:
            return email if row is not None else owner
        email = row.manager
    return owner


class ReviewService:
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

    # -- what a review shows ------------------------------------------------------------------
    def _snapshot(self, connection: Connection, row: Any, now: dt.datetime) -> ItemSnapshot:
        policy = self._policy()
        spec = CharterSpec.model_validate(
            agent_writes.charter_document(connection, row.name, row.charter_version)
        )
        window = now - dt.timedelta(seconds=policy.thresholds.activity_window)
        index = ActivityIndex.build(rollup.agent_usage(connection, row.name, window), window)
        result = charter_least_privilege(
            spec,
            index.by_agent.get(row.name, []),
            narrow_max=policy.thresholds.narrow_max_actions,
        )
        open_findings = connection.execute(
            sa.select(findings.c.rule, findings.c.severity, findings.c.message)
            .where(
                findings.c.agent == row.name,
                findings.c.status.in_((FindingStatus.OPEN.value, FindingStatus.ACKNOWLEDGED.value)),
            )
            .order_by(findings.c.rule)
            .limit(20)
        )
        last = index.last_by_agent.get(row.name)
        return ItemSnapshot(
            agent=row.name,
            reviewer=reviewer_for(connection, row.owner, row.pending_owner),
            state=row.state,
            charter_version=row.charter_version,
            access=[capability_label(c) for c in spec.allow],
            last_activity=last.isoformat() if last else None,
            findings=[{"rule": r, "severity": s, "message": m} for r, s, m in open_findings],
            suggestion={**result.summary(), "changed": result.changed},
            least_privilege=[
                c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in result.allow
            ],
        )

    def _in_scope(
        self, connection: Connection, scope: Scope, owner: str | None = None
    ) -> list[Any]:
        query = sa.select(_A).where(_A.c.state.in_(_REVIEWABLE)).order_by(_A.c.name)
        if owner is not None:  # an owner's plan: only their agents, whatever the scope says
            query = query.where(sa.func.lower(_A.c.owner) == owner.lower())
        if scope.kind == ScopeKind.OWNER:
            query = query.where(_A.c.owner == scope.value)
        elif scope.kind == ScopeKind.AGENT:
            query = query.where(_A.c.name == scope.value)
        rows = list(connection.execute(query))
        if scope.kind != ScopeKind.SYSTEM:
            return rows
        via_identity = set(
            connection.execute(
                sa.select(_I.c.agent).where(
                    _I.c.agent.is_not(None),
                    _I.c.gone_at.is_(None),
                    sa.or_(_I.c.system == scope.value, _I.c.system.like(f"{scope.value}:%")),
                )
            ).scalars()
        )
        kind = scope.value.split(":", 1)[0]
        chosen = []
        for row in rows:
            document = agent_writes.charter_document(connection, row.name, row.charter_version)
            systems = {
                split_resource(str(c.get("resource", "*")))[0] for c in document.get("allow", [])
            }
            if row.name in via_identity or scope.value in systems or kind in systems:
                chosen.append(row)
        return chosen

    def _plan_start(
        self, connection: Connection, scope: Scope, due_in: int | None, owner: str | None = None
    ) -> StartPlan:
        policy = self._policy()
        now = self._clock.now()
        due = now + dt.timedelta(seconds=due_in or policy.reviews.due_in)
        rows = self._in_scope(connection, scope, owner)
        if not rows:
            raise NotFound(f"no reviewable agent in scope {scope}", field="scope")
        items, skipped = [], []
        for row in rows:
            try:
                items.append(self._snapshot(connection, row, now))
            except (ValueError, NotFound) as exc:
                skipped.append((row.name, f"its charter cannot be read: {exc}"))
        return StartPlan(scope, due, policy.reviews.suspend_unreviewed, items, skipped)

    def plan_start(
        self, scope: str, *, due_in: int | None = None, owner: str | None = None
    ) -> StartPlan:
        """What starting a campaign would review; ``owner`` limits it to that owner's agents
        (an owner previewing a campaign sees nobody else's agents, findings or access)."""
        with self._db.read() as connection:
            return self._plan_start(connection, Scope.parse(scope), due_in, owner)

    # -- start ------------------------------------------------------------------------------
    def start(self, scope: str, *, actor: str, due_in: int | None = None) -> Campaign:
        parsed = Scope.parse(scope)
        now = self._clock.now()
        campaign_id = f"rv-{now:%Y%m%d}-{uuid.uuid4().hex[:6]}"
        with self._db.write() as connection:
            plan = self._plan_start(connection, parsed, due_in)
            connection.execute(
                sa.insert(_C).values(
                    id=campaign_id,
                    scope=str(parsed),
                    status=CampaignStatus.OPEN.value,
                    created_at=now,
                    created_by=actor,
                    due_at=plan.due_at,
                    suspend_unreviewed=plan.suspend_unreviewed,
                )
            )
            connection.execute(
                sa.insert(_IT),
                [
                    {
                        "campaign": campaign_id,
                        "agent": i.agent,
                        "reviewer": i.reviewer,
                        "status": ItemStatus.PENDING.value,
                        "snapshot": i.to_dict(),
                        "charter_version": i.charter_version,
                    }
                    for i in plan.items
                ],
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "review.start",
                    "review",
                    campaign_id,
                    None,
                    {
                        "scope": str(parsed),
                        "due_at": plan.due_at.isoformat(),
                        "agents": [i.agent for i in plan.items][:200],
                        "suspend_unreviewed": plan.suspend_unreviewed,
                    },
                ),
            )
            by_reviewer: dict[str, list[str]] = {}
            for item in plan.items:
                by_reviewer.setdefault(item.reviewer, []).append(item.agent)
            for reviewer, agents in by_reviewer.items():
                notices.send(
                    connection,
                    key=f"review.assigned:{campaign_id}:{reviewer}",
                    recipient=reviewer,
                    kind="review.assigned",
                    subject=f"Access review {campaign_id}: {len(agents)} agent(s) due "
                    f"{plan.due_at:%Y-%m-%d}",
                    body="Please keep, reduce or revoke the access of: "
                    + ", ".join(agents)
                    + f". Run: charter review show {campaign_id}",
                    now=now,
                )
        return self.get(campaign_id)

    # -- read -------------------------------------------------------------------------------
    @staticmethod
    def _item(row: Any) -> ReviewItem:
        return ReviewItem(
            row.campaign,
            row.agent,
            row.reviewer,
            ItemStatus(row.status),
            dict(row.snapshot),
            row.charter_version,
            utc(row.decided_at) if row.decided_at else None,
            row.decided_by,
            row.reason,
            row.new_charter_version,
        )

    def _campaign(self, connection: Connection, row: Any) -> Campaign:
        items = connection.execute(
            sa.select(_IT).where(_IT.c.campaign == row.id).order_by(_IT.c.agent)
        )
        return Campaign(
            row.id,
            row.scope,
            CampaignStatus(row.status),
            utc(row.created_at),
            row.created_by,
            utc(row.due_at),
            bool(row.suspend_unreviewed),
            utc(row.closed_at) if row.closed_at else None,
            [self._item(i) for i in items],
        )

    def get(self, campaign_id: str) -> Campaign:
        with self._db.read() as connection:
            row = connection.execute(sa.select(_C).where(_C.c.id == campaign_id)).first()
            if row is None:
                raise NotFound(f"no review campaign {campaign_id!r}", field="campaign")
            return self._campaign(connection, row)

    def item(self, campaign_id: str, agent: str) -> ReviewItem:
        """One agent's item in a campaign."""
        with self._db.read() as connection:
            return self._item(self._item_row(connection, campaign_id, agent))

    def list(self, *, status: CampaignStatus | None = None, limit: int = 100) -> list[Campaign]:
        query = sa.select(_C).order_by(_C.c.created_at.desc(), _C.c.id).limit(limit)
        if status is not None:
            query = query.where(_C.c.status == status.value)
        with self._db.read() as connection:
            return [self._campaign(connection, r) for r in connection.execute(query).all()]

    # -- decide -----------------------------------------------------------------------------
    def _item_row(self, connection: Connection, campaign_id: str, agent: str) -> Any:
        row = connection.execute(
            sa.select(_IT).where(_IT.c.campaign == campaign_id, _IT.c.agent == agent)
        ).first()
        if row is None:
            raise NotFound(f"agent {agent!r} is not in review {campaign_id!r}", field="agent")
        return row

    def _plan_decision(
        self, connection: Connection, item: Any, decision: ReviewDecision
    ) -> DecisionPlan:
        agent = agent_writes.agent_row(connection, item.agent)
        if agent.state == AgentState.DECOMMISSIONED.value:
            raise Conflict(f"agent {item.agent} is decommissioned", field="agent")
        version = int(agent.charter_version)
        old_doc = agent_writes.charter_document(connection, item.agent, version)
        plan_args: dict[str, Any] = {
            "campaign": item.campaign,
            "agent": item.agent,
            "decision": decision,
            "charter_version": version,
        }
        if decision == ReviewDecision.KEEP:
            return DecisionPlan(
                **plan_args,
                diff="",
                new_document=None,
                suspend=False,
                changes=["nothing changes: the current access is confirmed"],
            )
        if version != item.charter_version:
            raise Conflict(
                f"the charter of {item.agent} changed since the review started "
                f"(v{item.charter_version} → v{version}); start a new review",
                field="charter_version",
            )
        allow = (
            item.snapshot.get("least_privilege", []) if decision == ReviewDecision.REDUCE else []
        )
        new_doc = CharterSpec.model_validate({**old_doc, "allow": allow}).document()
        if new_doc == CharterSpec.model_validate(old_doc).document():
            raise InvalidInput(
                f"the charter of {item.agent} already is its least-privilege set: choose keep",
                field="decision",
            )
        old = CharterVersion(item.agent, version, old_doc, self._clock.now(), "", "")
        new = CharterVersion(item.agent, version + 1, new_doc, self._clock.now(), "", "")
        suspend = decision == ReviewDecision.REVOKE and agent.state == AgentState.ACTIVE.value
        removed = len(old_doc.get("allow", [])) - len(allow)
        changes = [
            f"charter v{version} → v{version + 1}: allow rules {len(old_doc.get('allow', []))}"
            f" → {len(allow)}" + (f" ({removed} removed)" if removed > 0 else "")
        ]
        if suspend:
            changes.append(f"{item.agent} is suspended (active → suspended)")
        return DecisionPlan(
            **plan_args,
            diff=version_diff(old, new),
            new_document=new_doc,
            suspend=suspend,
            changes=changes,
        )

    def plan_decision(self, campaign_id: str, agent: str, decision: ReviewDecision) -> DecisionPlan:
        with self._db.read() as connection:
            item = self._item_row(connection, campaign_id, agent)
            if item.status != ItemStatus.PENDING.value:
                raise Conflict(f"{agent} was already reviewed ({item.status})", field="agent")
            return self._plan_decision(connection, item, ReviewDecision(decision))

    def decide(
        self,
        campaign_id: str,
        agent: str,
        decision: ReviewDecision,
        *,
        by: str,
        actor: str,
        reason: str = "",
    ) -> ReviewItem:
        """Apply the reviewer's decision in one transaction (see :meth:`plan_decision`)."""
        decision = ReviewDecision(decision)
        by = (by or "").strip().lower()
        now = self._clock.now()
        with self._db.write() as connection:
            item = self._item_row(connection, campaign_id, agent)
            if item.status != ItemStatus.PENDING.value:
                raise Conflict(f"{agent} was already reviewed ({item.status})", field="agent")
            owner = agent_writes.agent_row(connection, agent).owner
            if by not in {item.reviewer, owner}:
                raise PermissionDenied(
                    f"{by or 'nobody'} may not review {agent}: its reviewer is {item.reviewer}",
                    field="by",
                )
            plan = self._plan_decision(connection, item, decision)
            why = reason.strip() or f"access review {campaign_id}: {decision}"
            new_version = None
            if plan.new_document is not None:
                new_version = agent_writes.new_version(
                    connection,
                    self._audit,
                    spec=CharterSpec.model_validate(plan.new_document),
                    expect_version=plan.charter_version,
                    actor=actor,
                    reason=f"review {campaign_id}: {decision} by {by}: {why}",
                    now=now,
                )
            if plan.suspend:
                agent_writes.transition(
                    connection,
                    self._audit,
                    name=agent,
                    to=Transition.SUSPEND,
                    actor=actor,
                    reason=f"access revoked in review {campaign_id} by {by}",
                    now=now,
                    expect=AgentState.ACTIVE,
                )
            done = connection.execute(
                sa.update(_IT)
                .where(
                    _IT.c.campaign == campaign_id,
                    _IT.c.agent == agent,
                    _IT.c.status == ItemStatus.PENDING.value,
                )
                .values(
                    status=DECIDED[decision].value,
                    decided_at=now,
                    decided_by=by,
                    reason=why,
                    new_charter_version=new_version,
                )
            )
            if done.rowcount != 1:
                raise Conflict(f"{agent} was reviewed meanwhile", field="agent")
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "review.decide",
                    "review",
                    f"{campaign_id}/{agent}",
                    {"status": "pending", "charter_version": plan.charter_version},
                    {
                        "decision": decision.value,
                        "by": by,
                        "reason": why,
                        "charter_version": new_version or plan.charter_version,
                        "suspended": plan.suspend,
                        "changes": plan.changes,
                    },
                ),
            )
            close_if_done(connection, self._audit, campaign_id, actor, now)
            return self._item(self._item_row(connection, campaign_id, agent))


def close_if_done(
    connection: Connection, audit: AuditService, campaign_id: str, actor: str, now: dt.datetime
) -> None:
    """Close an open campaign once nothing in it is pending (an audit event when it closes)."""
    pending = connection.execute(
        sa.select(sa.func.count())
        .select_from(_IT)
        .where(_IT.c.campaign == campaign_id, _IT.c.status == ItemStatus.PENDING.value)
    ).scalar_one()
    if pending:
        return
    closed = connection.execute(
        sa.update(_C)
        .where(_C.c.id == campaign_id, _C.c.status == CampaignStatus.OPEN.value)
        .values(status=CampaignStatus.CLOSED.value, closed_at=now)
    )
    if closed.rowcount == 1:
        audit.record(
            connection,
            EventDraft(
                actor,
                "review.close",
                "review",
                campaign_id,
                {"status": "open"},
                {"status": "closed"},
            ),
        )
