"""A proposed change to an agent, as separation of duties keeps it until a second person decides.

The model shared by the change service, the API, the CLI and the console; the
rows it is read from are ``change_proposals`` and, for just-in-time requests,
``jit_grants`` (whose own table stays the truth).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "POLICY_KEY",
    "Proposal",
    "ProposalKind",
    "ProposalStatus",
    "jit_proposal",
    "proposal_of_row",
]


class ProposalKind(StrEnum):
    CHARTER_UPDATE = "charter_update"
    JIT_GRANT = "jit_grant"
    RESUME = "resume"


class ProposalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


#: the policy key (``approvals.<key>``) that names who approves each kind
POLICY_KEY = {
    ProposalKind.CHARTER_UPDATE: "charter_widening",
    ProposalKind.JIT_GRANT: "jit",
    ProposalKind.RESUME: "resume_after_admin_suspension",
}


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Proposal:
    id: str
    kind: ProposalKind
    agent: str
    owner: str
    requested_by: str
    requested_at: dt.datetime
    reason: str
    payload: dict[str, Any]
    diff: dict[str, Any]  # {"widenings": [{kind, rule, message}], "text": unified diff}
    base_version: int
    status: ProposalStatus
    expires_at: dt.datetime | None = None
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        def iso(moment: dt.datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "id": self.id,
            "kind": self.kind.value,
            "agent": self.agent,
            "owner": self.owner,
            "status": self.status.value,
            "requested_by": self.requested_by,
            "requested_at": iso(self.requested_at),
            "reason": self.reason,
            "approvers": self.payload.get("approvers", []),
            "widenings": self.diff.get("widenings", []),
            "diff": self.diff.get("text", ""),
            "base_version": self.base_version,
            "expires_at": iso(self.expires_at),
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
            "decision_reason": self.decision_reason,
        }


def proposal_of_row(row: Any, now: dt.datetime) -> Proposal:
    status = ProposalStatus(row.status)
    expires_at = _aware(row.expires_at)
    if status == ProposalStatus.PENDING and expires_at is not None and expires_at <= now:
        status = ProposalStatus.EXPIRED
    return Proposal(
        id=row.id,
        kind=ProposalKind(row.kind),
        agent=row.agent,
        owner=row.owner,
        requested_by=row.requested_by,
        requested_at=_aware(row.requested_at) or now,
        reason=row.reason,
        payload=dict(row.payload or {}),
        diff=dict(row.diff or {}),
        base_version=int(row.base_version),
        status=status,
        expires_at=expires_at,
        decided_by=row.decided_by,
        decided_at=_aware(row.decided_at),
        decision_reason=row.decision_reason,
    )


_JIT_STATUS = {
    "pending": "pending",
    "approved": "approved",
    "denied": "rejected",
    "expired": "expired",
    "revoked": "approved",
}


def jit_proposal(row: Any, approvers: list[str], now: dt.datetime) -> Proposal:
    """A JIT request shown as a proposal (its own table stays the truth)."""
    minutes = int(row.duration_s) // 60
    message = f"allows {row.action} on {row.resource} for {minutes} min"
    text = (
        f"+allow (just in time, {minutes} min):\n"
        f"+  - action: {row.action}\n"
        f"+    resource: {row.resource}\n"
    )
    return Proposal(
        id=row.id,
        kind=ProposalKind.JIT_GRANT,
        agent=row.agent,
        owner=row.owner,
        requested_by=row.requested_by,
        requested_at=_aware(row.requested_at) or now,
        reason=row.reason,
        payload={
            "action": row.action,
            "resource": row.resource,
            "duration_s": int(row.duration_s),
            "approvers": approvers,
        },
        diff={"widenings": [{"kind": "jit", "rule": None, "message": message}], "text": text},
        base_version=0,
        status=ProposalStatus(_JIT_STATUS.get(row.status, "expired")),
        decided_by=row.decided_by,
        decided_at=_aware(row.decided_at),
        decision_reason=row.decision_reason,
    )
