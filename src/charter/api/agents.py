"""``/v1/agents``: the registry over HTTP (the same service functions as the CLI).

Who may do what (see ``api/security.py``): admins everything; auditors read;
owners only their own agents — another owner's agent answers 404, exactly as
a name that does not exist, so ids cannot be probed — and an owner may
suspend, resume or decommission but not activate (approve) their own agent.

Separation of duties (``services/changes.py``): a charter version that widens an
active or suspended agent's access, and a resume of an agent someone else
suspended, answer ``202 Accepted`` with the proposal (its id and diff) and change
nothing until a second person approves it under ``/v1/changes``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from charter.api.models import AgentOut, CharterVersionOut, Page
from charter.domain.charter import CharterSpec, charter_json_schema
from charter.domain.charter_parsing import MAX_CHARTER_BYTES, load_document, parse_charter
from charter.domain.enums import AgentState
from charter.domain.lifecycle import Transition
from charter.errors import InputTooLarge, InvalidInput, PermissionDenied
from charter.http.deps import Offset, actor_dep, services_dep
from charter.http.security import (
    PrincipalDep,
    require_owns,
    require_transition,
    require_writer,
    visible_owner,
)
from charter.services.agent_registry import version_diff
from charter.services.changes import Proposal
from charter.services.context import Services

router = APIRouter(prefix="/v1/agents", tags=["agents"])

ServicesDep = Annotated[Services, Depends(services_dep)]
ActorDep = Annotated[str, Depends(actor_dep)]

#: the answer when a change waits for a second person (see the module docstring)
_PROPOSED: dict[int | str, dict[str, Any]] = {
    202: {"description": "a proposal: the change waits for an approver (/v1/changes)"}
}


def proposed(proposal: Proposal) -> JSONResponse:
    return JSONResponse(proposal.to_dict(), status_code=202)


_CHARTER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": charter_json_schema()},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


async def _charter_from(request: Request) -> CharterSpec:
    body = await request.body()
    if len(body) > MAX_CHARTER_BYTES:
        raise InputTooLarge(f"a charter may be at most {MAX_CHARTER_BYTES} bytes", field="body")
    return parse_charter(load_document(body, source="request body"))


class TransitionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class TransferIn(BaseModel):
    to: str = Field(min_length=3, max_length=320)
    reason: str = Field(default="transferred", max_length=2000)


@router.post("", status_code=201, response_model=AgentOut, openapi_extra=_CHARTER_BODY)
async def register_agent(
    request: Request, services: ServicesDep, actor: ActorDep, principal: PrincipalDep
) -> AgentOut:
    """Register an agent from a charter (JSON, or YAML with ``Content-Type: application/yaml``).

    An owner may register only agents whose charter names them as the owner.
    """
    require_writer(principal)
    spec = await _charter_from(request)
    scope = visible_owner(principal)
    if scope is not None and spec.owner != scope:
        raise PermissionDenied(
            f"owners register only their own agents, not {spec.owner}'s", field="owner"
        )
    result = services.registry.register(spec, actor=actor)
    return AgentOut.of(result.agent, result.warnings)


@router.get("", response_model=Page[AgentOut])
def list_agents(
    services: ServicesDep,
    principal: PrincipalDep,
    owner: str | None = None,
    state: AgentState | None = None,
    label: Annotated[list[str] | None, Query(description="key=value; repeatable")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Page[AgentOut]:
    scope = visible_owner(principal)
    if scope is not None:  # an owner sees only their own agents
        if owner and owner.lower() != scope:
            raise PermissionDenied("owners see only their own agents", field="owner")
        owner = scope
    labels: dict[str, str] = {}
    for item in label or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"label filter {item!r} must look like key=value", field="label")
        labels[key] = value
    page = services.registry.list(
        owner=owner, state=state, labels=labels, limit=limit, offset=offset
    )
    return Page[AgentOut](
        items=[AgentOut.of(a) for a in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{name}", response_model=AgentOut)
def get_agent(name: str, services: ServicesDep, principal: PrincipalDep) -> AgentOut:
    agent = services.registry.get(name)
    require_owns(principal, agent.owner, name=name)
    return AgentOut.of(agent)


@router.put(
    "/{name}/charter", response_model=AgentOut, openapi_extra=_CHARTER_BODY, responses=_PROPOSED
)
async def update_charter(
    name: str,
    request: Request,
    services: ServicesDep,
    actor: ActorDep,
    principal: PrincipalDep,
    reason: str = "updated",
) -> AgentOut | JSONResponse:
    """A new charter version (the body's ``name`` must match the path).

    Narrowing or equal: applied (200). Widening an active or suspended agent: 202
    with the proposal, and the agent keeps its charter until someone else approves.
    """
    require_writer(principal)
    require_owns(principal, services.registry.get(name).owner, name=name)
    spec = await _charter_from(request)
    if spec.name != name:
        raise InvalidInput(f"the charter names {spec.name!r}, the path {name!r}", field="name")
    result = services.governance.changes.update_charter(spec, actor=actor, reason=reason)
    if isinstance(result, Proposal):
        return proposed(result)
    return AgentOut.of(result.agent, result.warnings)


@router.get("/{name}/versions", response_model=list[CharterVersionOut])
def charter_versions(
    name: str, services: ServicesDep, principal: PrincipalDep
) -> list[CharterVersionOut]:
    require_owns(principal, services.registry.get(name).owner, name=name)
    versions = services.registry.history(name)
    return [
        CharterVersionOut(
            version=v.version,
            created_at=v.created_at,
            created_by=v.created_by,
            reason=v.reason,
            document=v.document,
            diff=version_diff(versions[i - 1] if i else None, v),
        )
        for i, v in enumerate(versions)
    ]


def _transition_route(transition: Transition) -> None:
    def route(
        name: str,
        body: TransitionIn,
        services: ServicesDep,
        actor: ActorDep,
        principal: PrincipalDep,
    ) -> AgentOut | JSONResponse:
        require_writer(principal)
        require_owns(principal, services.registry.get(name).owner, name=name)
        require_transition(principal, transition.value)
        if transition == Transition.RESUME:
            resumed = services.governance.changes.resume(
                name, actor=actor, reason=body.reason, admin=principal.is_admin
            )
            return proposed(resumed) if isinstance(resumed, Proposal) else AgentOut.of(resumed)
        agent = services.registry.transition(name, transition, actor=actor, reason=body.reason)
        return AgentOut.of(agent)

    route.__name__ = f"{transition.value}_agent"
    extra = _PROPOSED if transition == Transition.RESUME else None
    router.post(f"/{{name}}/{transition.value}", response_model=AgentOut, responses=extra)(route)


for _transition in Transition:
    _transition_route(_transition)


@router.post("/{name}/transfer", response_model=AgentOut)
def transfer_agent(
    name: str, body: TransferIn, services: ServicesDep, actor: ActorDep, principal: PrincipalDep
) -> AgentOut:
    require_writer(principal)
    require_owns(principal, services.registry.get(name).owner, name=name)
    return AgentOut.of(services.registry.transfer(name, body.to, actor=actor, reason=body.reason))
