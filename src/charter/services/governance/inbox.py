"""A person's inbox: everything that waits on them, each with the action it needs.

Five kinds of item, gathered from where they live:

* ``approval`` — pending changes and access requests this person may decide
  (the same check as approving: :mod:`charter.services.approvals`; never their
  own request);
* ``review`` — review items assigned to them, not yet decided;
* ``task`` — open tasks assigned to them or filed for agents they own;
* ``finding`` — open findings on agents they own;
* ``notice`` — the notices addressed to them (newest first), with delivery state.

Each item carries the exact command and the console link that act on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy as sa

from charter.domain.call_approval import ApprovalStatus
from charter.domain.moments import utc
from charter.domain.proposal import ProposalStatus
from charter.errors import InvalidInput
from charter.store import schema
from charter.store.governance_schema import findings, review_campaigns, review_items

if TYPE_CHECKING:
    from charter.services.governance.service import GovernanceService

SECTIONS = ("approval", "review", "task", "finding", "notice")


@dataclass(frozen=True, slots=True)
class InboxItem:
    section: str
    id: str
    title: str
    agent: str | None
    when: dt.datetime | None
    action: str
    link: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "id": self.id,
            "title": self.title,
            "agent": self.agent,
            "when": self.when.isoformat() if self.when else None,
            "action": self.action,
            "link": self.link,
            "detail": self.detail,
        }


class Inbox:
    def __init__(self, governance: GovernanceService) -> None:
        self.g = governance

    def for_person(self, email: str, *, notices: int = 20) -> list[InboxItem]:
        who = email.strip().lower()
        if "@" not in who or len(who) > 320:
            raise InvalidInput("a person is named by their e-mail", field="person")
        return [
            *self._approvals(who),
            *self._held_calls(who),
            *self._reviews(who),
            *self._tasks(who),
            *self._findings(who),
            *self._notices(who, notices),
        ]

    def _approvals(self, who: str) -> list[InboxItem]:
        out = []
        for p in self.g.changes.list(status=ProposalStatus.PENDING, visible_to=who):
            if not self.g.changes.may_decide(p, who):
                continue
            out.append(
                InboxItem(
                    "approval",
                    p.id,
                    f"{p.kind.value} for {p.agent}, asked by {p.requested_by}",
                    p.agent,
                    p.requested_at,
                    f"charter changes approve {p.id} --by {who}",
                    "/changes",
                    p.reason,
                )
            )
        return out

    def _held_calls(self, who: str) -> list[InboxItem]:
        """Single calls held for approval (a charter rule's ``approve``) this person may decide."""
        if self.g.call_approvals is None:
            return []
        service = self.g.call_approvals()
        return [
            InboxItem(
                "approval",
                item.id,
                f"{item.agent} asks to {item.action} on {item.resource}",
                item.agent,
                item.requested_at,
                f"charter approvals approve {item.id} --by {who}",
                "/approvals",
                f"rule {item.rule}, expires {utc(item.expires_at):%Y-%m-%d %H:%M} UTC",
            )
            for item in service.list(status=ApprovalStatus.PENDING)
            if service.may_decide(item, who)
        ]

    def _reviews(self, who: str) -> list[InboxItem]:
        _I, _C = review_items, review_campaigns
        with self.g.db.read() as connection:
            rows = connection.execute(
                sa.select(_I.c.campaign, _I.c.agent, _C.c.due_at)
                .join(_C, _C.c.id == _I.c.campaign)
                .where(_I.c.reviewer == who, _I.c.status == "pending", _C.c.status == "open")
                .order_by(_C.c.due_at, _I.c.agent)
                .limit(200)
            ).all()
        return [
            InboxItem(
                "review",
                f"{r.campaign}/{r.agent}",
                f"review {r.agent}: keep, reduce or revoke its access",
                r.agent,
                utc(r.due_at),
                f"charter review decide {r.campaign} {r.agent} keep --by {who}",
                f"/reviews/{quote(r.campaign, safe='')}/{quote(r.agent, safe='')}",
                f"due {utc(r.due_at):%Y-%m-%d}",
            )
            for r in rows
        ]

    def _owned(self, who: str) -> set[str]:
        with self.g.db.read() as connection:
            return set(
                connection.execute(
                    sa.select(schema.agents.c.name).where(schema.agents.c.owner == who)
                ).scalars()
            )

    def _tasks(self, who: str) -> list[InboxItem]:
        owned = self._owned(who)
        found = [
            t
            for t in self.g.tasks.list(limit=10_000)
            if t.assignee == who or (t.agent is not None and t.agent in owned)
        ]
        return [
            InboxItem(
                "task",
                t.id,
                t.title,
                t.agent,
                t.created_at,
                f"charter tasks done {t.id} --note 'what you did'",
                f"/agents/{quote(t.agent, safe='')}" if t.agent else "/",
                "; ".join(t.steps),
            )
            for t in found
        ]

    def _findings(self, who: str) -> list[InboxItem]:
        _F = findings
        with self.g.db.read() as connection:
            rows = connection.execute(
                sa.select(_F.c.id, _F.c.rule, _F.c.severity, _F.c.agent, _F.c.message)
                .select_from(_F)
                .join(schema.agents, schema.agents.c.name == _F.c.agent)
                .where(schema.agents.c.owner == who, _F.c.status == "open")
                .order_by(_F.c.severity, _F.c.id)
                .limit(200)
            ).all()
        return [
            InboxItem(
                "finding",
                r.id,
                f"[{r.severity}] {r.message}",
                r.agent,
                None,
                f"charter findings show {r.id}",
                f"/findings/{quote(r.id, safe='')}",
                r.rule,
            )
            for r in rows
        ]

    def _notices(self, who: str, limit: int) -> list[InboxItem]:
        found = self.g.notices.list(recipient=who, limit=limit)
        states = self.g.delivery.states("notice", [str(n.id) for n in found])
        out = []
        for n in found:
            delivered = ", ".join(
                f"{s['channel']} {s['status']}" for s in states.get(str(n.id), [])
            )
            out.append(
                InboxItem(
                    "notice",
                    str(n.id),
                    n.subject,
                    n.agent,
                    n.created_at,
                    f"charter agent show {n.agent}" if n.agent else "charter notices",
                    f"/agents/{quote(n.agent, safe='')}" if n.agent else "/",
                    f"{n.body} ({delivered or 'not delivered'})",
                )
            )
        return out
