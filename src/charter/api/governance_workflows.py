"""Governance workflows over HTTP: reviews, JIT access, decommissioning, rotation,
ownership, tasks and notices — the same service calls as the CLI.

Who decides (``by``): for a person signed in (session or personal token) it is
that person, and a different ``by`` is refused unless they are an admin, who
may record a decision an owner made elsewhere. The services then check that
``by`` is the reviewer / the agent's owner / the pending owner. Every listing is
scoped to the caller's own agents when the caller is an owner.

The routes join :mod:`charter.api.governance`'s router (prefix ``/v1``, tag
``governance``), after the findings'.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from charter.domain.durations import parse_duration
from charter.domain.governance.review_model import Campaign, ReviewDecision
from charter.errors import InvalidInput, NotFound, PermissionDenied
from charter.http.deps import actor_dep, services_dep
from charter.http.security import PrincipalDep, ReachDep, require_writer
from charter.services.auth import Principal
from charter.services.context import Services
from charter.services.governance.jit import JitStatus
from charter.services.governance.rotation import RotationStatus
from charter.services.governance.tasks import TaskStatus
from charter.services.owner_reach import OwnerReach

#: joined to charter.api.governance's router, which gives the /v1 prefix and the tag
router = APIRouter()
ServicesDep = Annotated[Services, Depends(services_dep)]
ActorDep = Annotated[str, Depends(actor_dep)]


class StatusChange(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


def _by(principal: Principal, given: str | None) -> str:
    """Whose decision this is (see the module docstring)."""
    own = principal.subject.lower() if principal.is_person else None
    chosen = (given or own or "").strip().lower()
    if not chosen:
        raise InvalidInput("say who decides: 'by' (an e-mail)", field="by")
    if own is not None and chosen != own and not principal.is_admin:
        raise PermissionDenied("you may only record your own decisions", field="by")
    return chosen


def duration_seconds(value: str | int | None, field: str) -> int | None:
    """A duration parameter (``14d``, ``3600``) in seconds; None when absent."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from exc


# -- reviews ---------------------------------------------------------------------------------------
class ReviewStart(BaseModel):
    scope: str = Field(
        min_length=3, max_length=400, description="all, owner:EMAIL, system:ID, agent:NAME"
    )
    due: str | None = Field(default=None, description="time to decide, e.g. 14d")


class ReviewDecisionIn(BaseModel):
    decision: ReviewDecision
    by: str | None = Field(default=None, max_length=320)
    reason: str = Field(default="", max_length=2000)
    plan: bool = False


@router.post("/reviews", status_code=201)
def start_review(
    body: ReviewStart, services: ServicesDep, reach: ReachDep, actor: ActorDep, plan: bool = False
) -> Any:
    """Start a campaign (``?plan=true``: show it, create nothing; an owner's plan covers only
    their own agents, whatever the scope)."""
    principal = reach.principal
    reviews = services.governance.reviews
    due = duration_seconds(body.due, "due")
    if plan:
        return reviews.plan_start(body.scope, due_in=due, owner=reach.scope).to_dict()
    require_writer(principal)
    if not principal.is_admin:
        raise PermissionDenied("only an admin starts an access review", field="scope")
    return reviews.start(body.scope, actor=actor, due_in=due).to_dict()


def _visible_campaign(
    reach: OwnerReach, campaign: Campaign, owned: frozenset[str] | None
) -> dict[str, Any] | None:
    """The campaign with only the items ``reach`` reaches; None when that leaves none."""
    body = campaign.to_dict()
    if owned is None:
        return body
    body["items"] = [i.to_dict() for i in campaign.items if reach.review_item_visible(i, owned)]
    return body if body["items"] else None


@router.get("/reviews")
def list_reviews(services: ServicesDep, reach: ReachDep) -> list[dict[str, Any]]:
    owned = reach.agent_names()
    shown = (_visible_campaign(reach, c, owned) for c in services.governance.reviews.list())
    return [body for body in shown if body is not None]


@router.get("/reviews/{campaign_id}")
def get_review(campaign_id: str, services: ServicesDep, reach: ReachDep) -> Any:
    campaign = services.governance.reviews.get(campaign_id)
    body = _visible_campaign(reach, campaign, reach.agent_names())
    if body is None:  # none of it is the owner's: as if it did not exist
        raise NotFound(f"no review campaign {campaign_id!r}", field="campaign")
    return body


@router.post("/reviews/{campaign_id}/items/{agent}")
def decide_review(
    campaign_id: str,
    agent: str,
    body: ReviewDecisionIn,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    """Keep, reduce or revoke (``plan: true`` shows the exact change and applies nothing)."""
    reviews = services.governance.reviews
    reach.review_item(campaign_id, agent)
    if body.plan:
        return reviews.plan_decision(campaign_id, agent, body.decision).to_dict()
    require_writer(principal)
    item = reviews.decide(
        campaign_id,
        agent,
        body.decision,
        by=_by(principal, body.by),
        actor=actor,
        reason=body.reason,
    )
    return item.to_dict()


# -- just-in-time access ---------------------------------------------------------------------------
class AccessRequestIn(BaseModel):
    agent: str = Field(min_length=1, max_length=63)
    action: str = Field(min_length=1, max_length=256)
    resource: str = Field(min_length=1, max_length=256)
    reason: str = Field(min_length=1, max_length=2000)
    duration: str | None = Field(default=None, description="e.g. 1h (policy default and maximum)")


class AccessDecisionIn(BaseModel):
    by: str | None = Field(default=None, max_length=320)
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/access-requests", status_code=201)
def request_access(
    body: AccessRequestIn,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    require_writer(principal)
    reach.agent(body.agent)
    return services.governance.jit.request(
        body.agent,
        action=body.action,
        resource=body.resource,
        reason=body.reason,
        actor=actor,
        duration=duration_seconds(body.duration, "duration"),
    ).to_dict()


@router.get("/access-requests")
def list_access(
    services: ServicesDep,
    reach: ReachDep,
    agent: str | None = None,
    status: JitStatus | None = None,
) -> list[dict[str, Any]]:
    grants = services.governance.jit.list(agent=reach.agent_filter(agent), status=status)
    owned = reach.agent_names()
    return [g.to_dict() for g in grants if owned is None or g.agent in owned]


def _access_decision(approve: bool) -> Any:
    def route(
        grant_id: str,
        body: AccessDecisionIn,
        services: ServicesDep,
        principal: PrincipalDep,
        reach: ReachDep,
        actor: ActorDep,
    ) -> Any:
        require_writer(principal)
        reach.access_request(grant_id)
        jit = services.governance.jit
        decide = jit.approve if approve else jit.deny
        by = _by(principal, body.by)
        if approve and principal.is_person and by != principal.subject.lower():
            # separation of duties: an approval is the signed-in person's, never recorded
            raise PermissionDenied("you may only approve as yourself", field="by")
        return decide(grant_id, by=by, actor=actor, reason=body.reason).to_dict()

    route.__name__ = "approve_access" if approve else "deny_access"
    return route


router.post("/access-requests/{grant_id}/approve")(_access_decision(True))
router.post("/access-requests/{grant_id}/deny")(_access_decision(False))


@router.post("/access-requests/{grant_id}/revoke")
def revoke_access(
    grant_id: str,
    body: StatusChange,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    require_writer(principal)
    reach.access_request(grant_id)
    return services.governance.jit.revoke(
        grant_id, actor=actor, reason=body.reason or "revoked"
    ).to_dict()


# -- decommissioning and ownership --------------------------------------------------------------
class DecommissionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AcceptIn(BaseModel):
    by: str | None = Field(default=None, max_length=320)


@router.get("/decommissions/{name}")
def decommission_plan(name: str, services: ServicesDep, reach: ReachDep) -> Any:
    """Everything the agent can still use, and who revokes it (Charter, or a task)."""
    reach.agent(name)
    return services.governance.decommission.plan(name).to_dict()


@router.post("/decommissions/{name}")
def decommission(
    name: str,
    body: DecommissionIn,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    require_writer(principal)
    reach.agent(name)
    return services.governance.decommission.apply(name, actor=actor, reason=body.reason).to_dict()


@router.post("/agents/{name}/accept")
def accept_ownership(
    name: str,
    body: AcceptIn,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    """The pending owner takes over an agent whose owner left."""
    require_writer(principal)
    reach.pending_agent(name)
    agent = services.governance.departures.accept(name, by=_by(principal, body.by), actor=actor)
    return {
        "name": agent.name,
        "owner": agent.owner,
        "state": agent.state.value,
        "pending_owner": agent.pending_owner,
    }


# -- rotation, tasks, notices -------------------------------------------------------------------
@router.get("/rotations")
def list_rotations(
    services: ServicesDep,
    reach: ReachDep,
    status: RotationStatus | None = None,
    agent: str | None = None,
) -> list[dict[str, Any]]:
    scope = reach.scope
    found = services.governance.rotation.list(status=status, agent=reach.agent_filter(agent))
    return [r.to_dict() for r in found if scope is None or r.owner == scope]


@router.post("/rotations/{rotation_id}/start")
def start_rotation(
    rotation_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    require_writer(principal)
    reach.rotation(rotation_id)
    return services.governance.rotation.start(rotation_id, actor=actor).to_dict()


@router.post("/rotations/{rotation_id}/verify")
def verify_rotation(
    rotation_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    require_writer(principal)
    reach.rotation(rotation_id)
    return services.governance.rotation.verify(rotation_id, actor=actor).to_dict()


@router.get("/tasks")
def list_tasks(
    services: ServicesDep,
    reach: ReachDep,
    agent: str | None = None,
    status: TaskStatus | None = TaskStatus.OPEN,
) -> list[dict[str, Any]]:
    scope = reach.scope
    found = services.governance.tasks.list(status=status, agent=reach.agent_filter(agent))
    return [t.to_dict() for t in found if scope is None or t.assignee == scope]


@router.post("/tasks/{task_id}/done")
def complete_task(
    task_id: str,
    body: StatusChange,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    require_writer(principal)
    reach.task(task_id)
    return services.governance.tasks.complete(task_id, actor=actor, note=body.reason).to_dict()


@router.get("/notices")
def list_notices(
    services: ServicesDep,
    reach: ReachDep,
    recipient: str | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    chosen = reach.owner_filter(recipient, field="recipient")
    found = services.governance.notices.list(recipient=chosen, kind=kind, limit=limit)
    delivery = services.governance.delivery.states("notice", [str(n.id) for n in found])
    return [{**n.to_dict(), "delivery": delivery.get(str(n.id), [])} for n in found]


@router.get("/inbox")
def inbox(
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    person: Annotated[str | None, Query(max_length=320)] = None,
) -> list[dict[str, Any]]:
    """What waits on one person (default: the caller), each item with its action."""
    chosen = reach.owner_filter(person, field="person") or (
        principal.subject if principal.is_person else None
    )
    if not chosen:
        raise InvalidInput("say whose inbox: ?person=EMAIL", field="person")
    return [i.to_dict() for i in services.governance.inbox.for_person(chosen)]
