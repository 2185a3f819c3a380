"""Access reviews over time: reminders before the due date, and what happens after it.

The worker runs both on a schedule. A reminder goes once per reviewer, item and
``reviews.remind_before`` offset; at the due date what is still pending expires
(cancelled when the agent is gone) and, if the campaign says so, the agent is suspended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.enums import AgentState
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.governance.review_model import CampaignStatus, ItemStatus
from charter.domain.lifecycle import Transition
from charter.domain.moments import utc
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.governance import agent_writes, notices
from charter.services.governance.reviews import close_if_done
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import review_campaigns, review_items

_A = schema.agents
_C, _IT = review_campaigns, review_items


class ReviewDeadlines:
    """The worker's part of access reviews: reminders and deadline enforcement."""

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

    def remind(self, *, actor: str) -> int:
        """Remind reviewers of pending items at each ``remind_before`` offset (idempotent)."""
        policy = self._policy()
        now = self._clock.now()
        sent = 0
        with self._db.write() as connection:
            rows = connection.execute(
                sa.select(_IT.c.campaign, _IT.c.agent, _IT.c.reviewer, _C.c.due_at)
                .join(_C, _C.c.id == _IT.c.campaign)
                .where(
                    _C.c.status == CampaignStatus.OPEN.value,
                    _IT.c.status == ItemStatus.PENDING.value,
                )
            ).all()
            for campaign, agent, reviewer, due_at in rows:
                due = utc(due_at)
                for offset in sorted(policy.reviews.remind_before):  # nearest first
                    if not due - dt.timedelta(seconds=offset) <= now < due:
                        continue
                    if notices.send(
                        connection,
                        key=f"review.remind:{campaign}:{agent}:{offset}",
                        recipient=reviewer,
                        kind="review.remind",
                        agent=agent,
                        subject=f"Review of {agent} is due {due:%Y-%m-%d %H:%M} UTC",
                        body=f"Decide keep, reduce or revoke: charter review show {campaign}",
                        now=now,
                    ):
                        sent += 1
                        self._audit.record(
                            connection,
                            EventDraft(
                                actor,
                                "review.remind",
                                "review",
                                f"{campaign}/{agent}",
                                None,
                                {"reviewer": reviewer, "due_at": due.isoformat()},
                            ),
                        )
                    break  # one reminder per pass: the nearest offset reached
        return sent

    def enforce_deadlines(self, *, actor: str) -> list[dict[str, str]]:
        """Expire what was not reviewed by the due date; suspend it if the campaign says so."""
        now = self._clock.now()
        actions: list[dict[str, str]] = []
        with self._db.write() as connection:
            due = connection.execute(
                sa.select(_C).where(_C.c.status == CampaignStatus.OPEN.value, _C.c.due_at <= now)
            ).all()
            for campaign in due:
                pending = connection.execute(
                    sa.select(_IT).where(
                        _IT.c.campaign == campaign.id, _IT.c.status == ItemStatus.PENDING.value
                    )
                ).all()
                for item in pending:
                    actions.append(self._expire(connection, campaign, item, actor, now))
                close_if_done(connection, self._audit, campaign.id, actor, now)
        return actions

    def _expire(
        self, connection: Connection, campaign: Any, item: Any, actor: str, now: dt.datetime
    ) -> dict[str, str]:
        state = connection.execute(sa.select(_A.c.state).where(_A.c.name == item.agent)).scalar()
        status = (
            ItemStatus.CANCELLED
            if state in (None, AgentState.DECOMMISSIONED.value)
            else ItemStatus.EXPIRED
        )
        connection.execute(
            sa.update(_IT)
            .where(
                _IT.c.campaign == campaign.id,
                _IT.c.agent == item.agent,
                _IT.c.status == ItemStatus.PENDING.value,
            )
            .values(
                status=status.value,
                decided_at=now,
                decided_by=actor,
                reason=f"not reviewed by {utc(campaign.due_at):%Y-%m-%d %H:%M} UTC",
            )
        )
        suspended = False
        if status == ItemStatus.EXPIRED and campaign.suspend_unreviewed:
            suspended = agent_writes.transition(
                connection,
                self._audit,
                name=item.agent,
                to=Transition.SUSPEND,
                actor=actor,
                reason=f"access review {campaign.id} not completed by its due date",
                now=now,
                expect=AgentState.ACTIVE,
            )
        self._audit.record(
            connection,
            EventDraft(
                actor,
                "review.expire",
                "review",
                f"{campaign.id}/{item.agent}",
                {"status": "pending"},
                {"status": status.value, "suspended": suspended},
            ),
        )
        if status == ItemStatus.EXPIRED:
            notices.send(
                connection,
                key=f"review.expired:{campaign.id}:{item.agent}",
                recipient=item.reviewer,
                kind="review.expired",
                agent=item.agent,
                subject=f"Review of {item.agent} expired"
                + ("; the agent is suspended" if suspended else ""),
                body=f"Campaign {campaign.id} passed its due date without a decision.",
                now=now,
            )
        return {
            "campaign": campaign.id,
            "agent": item.agent,
            "status": status.value,
            "suspended": str(suspended).lower(),
        }
