"""Access reviews: the vocabulary (scopes, decisions, states) and what a review shows.

A *campaign* covers the agents in a scope (``all``, ``owner:EMAIL``,
``system:ID``, ``agent:NAME``) and has a due date. Each agent is one *item*,
reviewed by its owner, who sees the agent's current access, its last use, its
open findings and the suggested least-privilege set, and decides:

* ``keep`` — the access stays as it is;
* ``reduce`` — the charter becomes the suggested least-privilege set shown in
  the review (a new charter version; the old one is kept);
* ``revoke`` — the charter keeps no allow rule at all and the agent is suspended.

Items not decided by the due date *expire*; the policy says whether their
agents are then suspended.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from charter.errors import InvalidInput


class ReviewDecision(StrEnum):
    KEEP = "keep"
    REDUCE = "reduce"
    REVOKE = "revoke"


class ItemStatus(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    REDUCED = "reduced"
    REVOKED = "revoked"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class CampaignStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


DECIDED = {
    ReviewDecision.KEEP: ItemStatus.KEPT,
    ReviewDecision.REDUCE: ItemStatus.REDUCED,
    ReviewDecision.REVOKE: ItemStatus.REVOKED,
}


class ScopeKind(StrEnum):
    ALL = "all"
    OWNER = "owner"
    SYSTEM = "system"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> Scope:
        text = (text or "").strip()
        if text == "all":
            return cls(ScopeKind.ALL)
        kind, sep, value = text.partition(":")
        if not sep or not value or kind not in {k.value for k in ScopeKind} or kind == "all":
            raise InvalidInput(
                f"scope {text!r} is not one of: all, owner:EMAIL, system:ID, agent:NAME",
                field="scope",
            )
        return cls(ScopeKind(kind), value.lower() if kind == "owner" else value)

    def __str__(self) -> str:
        return "all" if self.kind == ScopeKind.ALL else f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class ItemSnapshot:
    """What the reviewer sees for one agent, frozen when the campaign starts."""

    agent: str
    reviewer: str
    state: str
    charter_version: int
    access: list[str]
    last_activity: str | None
    findings: list[dict[str, str]]
    suggestion: dict[str, Any]
    least_privilege: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "reviewer": self.reviewer,
            "state": self.state,
            "charter_version": self.charter_version,
            "access": self.access,
            "last_activity": self.last_activity,
            "findings": self.findings,
            "suggestion": self.suggestion,
            "least_privilege": self.least_privilege,
        }


@dataclass(frozen=True, slots=True)
class StartPlan:
    scope: Scope
    due_at: dt.datetime
    suspend_unreviewed: bool
    items: list[ItemSnapshot]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": str(self.scope),
            "due_at": self.due_at.isoformat(),
            "suspend_unreviewed": self.suspend_unreviewed,
            "items": [i.to_dict() for i in self.items],
            "skipped": [{"agent": a, "reason": r} for a, r in self.skipped],
        }


@dataclass(frozen=True, slots=True)
class ReviewItem:
    campaign: str
    agent: str
    reviewer: str
    status: ItemStatus
    snapshot: dict[str, Any]
    charter_version: int
    decided_at: dt.datetime | None
    decided_by: str | None
    reason: str | None
    new_charter_version: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "agent": self.agent,
            "reviewer": self.reviewer,
            "status": self.status.value,
            "charter_version": self.charter_version,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "new_charter_version": self.new_charter_version,
            "snapshot": self.snapshot,
        }


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    scope: str
    status: CampaignStatus
    created_at: dt.datetime
    created_by: str
    due_at: dt.datetime
    suspend_unreviewed: bool
    closed_at: dt.datetime | None
    items: list[ReviewItem] = field(default_factory=list)

    @property
    def progress(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items:
            out[item.status.value] = out.get(item.status.value, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope,
            "status": self.status.value,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "due_at": self.due_at.isoformat(),
            "suspend_unreviewed": self.suspend_unreviewed,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "progress": self.progress,
            "items": [i.to_dict() for i in self.items],
        }


@dataclass(frozen=True, slots=True)
class DecisionPlan:
    """Exactly what a decision would change."""

    campaign: str
    agent: str
    decision: ReviewDecision
    charter_version: int
    diff: str
    new_document: dict[str, Any] | None
    suspend: bool
    changes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "agent": self.agent,
            "decision": self.decision.value,
            "charter_version": self.charter_version,
            "changes": self.changes,
            "suspend": self.suspend,
            "diff": self.diff,
            "new_charter": self.new_document,
        }
