"""``/v1/changes``: proposals that widen an agent's access, waiting for a second person.

A charter version that allows more, a just-in-time grant and a resume after
someone else's suspension are listed here with their diff. Approving applies
the change; the approver is the signed-in person (never someone named in the
body, and never the requester — admins included). Owners see the proposals for
their own agents and those they may approve; other proposals answer 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from charter.errors import InvalidInput
from charter.http.deps import actor_dep, services_dep
from charter.http.security import PrincipalDep, require_writer
from charter.services.auth import Principal
from charter.services.changes import ProposalStatus
from charter.services.context import Services

router = APIRouter(prefix="/v1/changes", tags=["changes"])
ServicesDep = Annotated[Services, Depends(services_dep)]
ActorDep = Annotated[str, Depends(actor_dep)]


class ApproveIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _viewer(principal: Principal) -> str | None:
    """None: sees every proposal (admins, auditors); else the person whose reach applies."""
    return principal.subject.lower() if principal.owner_scope is not None else None


def _approver(principal: Principal) -> str:
    """The person deciding: whoever is signed in (a PEP key decides nothing)."""
    if not principal.is_person:
        raise InvalidInput("a change is decided by a person", field="by")
    return principal.subject.lower()


@router.get("")
def list_changes(
    services: ServicesDep,
    principal: PrincipalDep,
    status: ProposalStatus | None = ProposalStatus.PENDING,
    agent: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Proposals (pending unless ``status`` says otherwise), newest first, each with its diff."""
    found = services.governance.changes.list(
        status=status, agent=agent, visible_to=_viewer(principal), limit=limit
    )
    return [p.to_dict() for p in found]


@router.get("/{change_id}")
def get_change(change_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return services.governance.changes.get(change_id, visible_to=_viewer(principal)).to_dict()


@router.post("/{change_id}/approve")
def approve_change(
    change_id: str, body: ApproveIn, services: ServicesDep, principal: PrincipalDep, actor: ActorDep
) -> dict[str, Any]:
    """Approve and apply (403 for the requester and for anyone the policy does not name)."""
    require_writer(principal)
    changes = services.governance.changes
    changes.get(change_id, visible_to=_viewer(principal))
    return changes.approve(
        change_id, by=_approver(principal), actor=actor, reason=body.reason
    ).to_dict()


@router.post("/{change_id}/reject")
def reject_change(
    change_id: str, body: RejectIn, services: ServicesDep, principal: PrincipalDep, actor: ActorDep
) -> dict[str, Any]:
    """Reject (the requester withdraws the same way); nothing changes."""
    require_writer(principal)
    changes = services.governance.changes
    changes.get(change_id, visible_to=_viewer(principal))
    return changes.reject(
        change_id, by=_approver(principal), actor=actor, reason=body.reason
    ).to_dict()
