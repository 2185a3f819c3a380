"""Approvals bound to the exact call: the digest that binds them, and what one looks like.

An allow rule that says ``approve`` does not allow a call until a person approves
*that* call: the same agent, action, resource, arguments and the same person it
acts for. The binding is :func:`call_digest`, SHA-256 over the canonical JSON
(sorted keys, no spaces, UTF-8) of those five things; an approval is usable once,
before it expires. The flow follows the OpenID AuthZEN access request and approval
profile (draft 1): the decision stays a denial (``approval_required``) that names
the access request; after approval the enforcement point asks again
(re-evaluation) and the decision point, still authoritative, allows once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from charter.domain.audit import canonical_json

__all__ = ["ApprovalStatus", "CallApproval", "call_arguments", "call_digest"]


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    USED = "used"
    EXPIRED = "expired"


def call_arguments(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The call's arguments as the enforcement point put them in the context (``args``)."""
    if not isinstance(context, Mapping):
        return {}
    found = context.get("args")
    return dict(found) if isinstance(found, Mapping) else {}


def call_digest(
    agent: str,
    action: str,
    resource: str,
    arguments: Mapping[str, Any],
    on_behalf_of: str | None = None,
) -> str:
    """What an approval is bound to: any other argument value is another call."""
    material = {
        "agent": agent,
        "action": action,
        "resource": resource,
        "arguments": dict(arguments),
        "on_behalf_of": on_behalf_of.lower() if on_behalf_of else None,
    }
    return hashlib.sha256(canonical_json(material).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CallApproval:
    """One access request for one call, as approvers see it."""

    id: str
    agent: str
    action: str
    resource: str
    on_behalf_of: str | None
    arguments: Mapping[str, Any]
    rule: str
    approvers: tuple[str, ...]
    owner: str
    ttl: int
    stored_status: ApprovalStatus
    requested_at: dt.datetime
    expires_at: dt.datetime
    digest: str = ""
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    used_at: dt.datetime | None = None
    now: dt.datetime | None = field(default=None, compare=False)

    def status_at(self, now: dt.datetime) -> ApprovalStatus:
        """Pending or approved past its expiry is expired, whatever is stored."""
        live = self.stored_status in (ApprovalStatus.PENDING, ApprovalStatus.APPROVED)
        if live and now >= self.expires_at:
            return ApprovalStatus.EXPIRED
        return self.stored_status

    @property
    def status(self) -> ApprovalStatus:
        return self.status_at(self.now) if self.now is not None else self.stored_status

    def to_dict(self) -> dict[str, Any]:
        """The AuthZEN-profile-shaped view: the request, its status and who may decide it."""
        return {
            "id": self.id,
            "status": self.status.value,
            "agent": self.agent,
            "action": self.action,
            "resource": self.resource,
            "on_behalf_of": self.on_behalf_of,
            "arguments": dict(self.arguments),
            "rule": self.rule,
            "approvers": list(self.approvers),
            "owner": self.owner,
            "digest": self.digest,
            "requested_at": self.requested_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "used_at": self.used_at.isoformat() if self.used_at else None,
        }
