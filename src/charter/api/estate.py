"""``/v1/identities``, ``/v1/credentials``, ``/v1/map/…`` and ``/v1/shadow``: the estate over HTTP.

The same services as ``charter discover``/``map``/``shadow``. Identity ids contain
``:`` and ``/`` (``aws:123456789012:role/app``), so they are taken as path
remainders. The map answers JSON by default; ``/v1/map/graph`` also draws SVG
and writes GraphML.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from charter.api.models import Page
from charter.api.records import record_fields, wire_value
from charter.domain.charter_parsing import MAX_CHARTER_BYTES, load_document, parse_charter
from charter.domain.enums import IdentityKind
from charter.domain.estate import Credential, Grant, Identity
from charter.errors import InputTooLarge
from charter.http.deps import Offset, actor_dep, services_dep
from charter.services.context import Services
from charter.services.inventory import Seen
from charter.services.map import render_graphml, render_svg

router = APIRouter(prefix="/v1", tags=["estate"])
ServicesDep = Annotated[Services, Depends(services_dep)]
ActorDep = Annotated[str, Depends(actor_dep)]


_SEEN = frozenset({"first_seen", "last_seen", "gone_at"})


class _SeenOut(BaseModel):
    first_seen: dt.datetime
    last_seen: dt.datetime
    gone_at: dt.datetime | None

    @classmethod
    def of(cls, seen: Seen[Any]) -> Self:
        """The record's fields as the model declares them, and when it was seen."""
        values = {
            name: wire_value(getattr(seen.record, name))
            for name in cls.model_fields
            if name not in _SEEN
        }
        return cls.model_validate(
            values
            | {"first_seen": seen.first_seen, "last_seen": seen.last_seen, "gone_at": seen.gone_at}
        )


# Each lists its record's fields (the domain declares them once), as they go on the wire.
class IdentityOut(_SeenOut):
    __annotations__ = record_fields(Identity, wire={"kind": str, "evidence": list[str]})


class CredentialOut(_SeenOut):
    __annotations__ = record_fields(Credential, wire={"kind": str})


class GrantOut(_SeenOut):
    __annotations__ = record_fields(
        Grant, wire={"permissions": list[str]}, omit=("source", "account")
    )


class IdentityDetailOut(BaseModel):
    identity: IdentityOut
    credentials: list[CredentialOut]
    grants: list[GrantOut]


class AdoptedOut(BaseModel):
    name: str
    previous_name: str
    owner: str
    state: str
    charter_version: int
    identities: list[str]
    warnings: list[str]


Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/identities", response_model=Page[IdentityOut])
def list_identities(
    services: ServicesDep,
    source: str | None = None,
    account: str | None = None,
    agent: str | None = None,
    owner: str | None = None,
    kind: IdentityKind | None = None,
    ai_related: bool | None = None,
    include_gone: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[IdentityOut]:
    """Non-human identities discovered in every source (gone ones only on request)."""
    found = services.estate.inventory.identities(
        source=source,
        account=account,
        agent=agent,
        owner=owner,
        kind=kind,
        ai_related=ai_related,
        include_gone=include_gone,
        limit=limit,
        offset=offset,
    )
    return Page[IdentityOut](
        items=[IdentityOut.of(i) for i in found.items],
        total=found.total,
        limit=limit,
        offset=offset,
    )


@router.get("/identities/{identity_id:path}", response_model=IdentityDetailOut)
def get_identity(identity_id: str, services: ServicesDep) -> IdentityDetailOut:
    """One identity with its credentials and every grant, each with its reason."""
    detail = services.estate.inventory.identity(identity_id)
    return IdentityDetailOut(
        identity=IdentityOut.of(detail.identity),
        credentials=[CredentialOut.of(c) for c in detail.credentials],
        grants=[GrantOut.of(g) for g in detail.grants],
    )


@router.get("/credentials", response_model=Page[CredentialOut])
def list_credentials(
    services: ServicesDep,
    source: str | None = None,
    account: str | None = None,
    agent: str | None = None,
    identity: str | None = None,
    fingerprint: str | None = None,
    include_gone: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[CredentialOut]:
    """Credentials as fingerprints and metadata (never secrets)."""
    found = services.estate.inventory.credentials(
        source=source,
        account=account,
        agent=agent,
        identity=identity,
        fingerprint=fingerprint,
        include_gone=include_gone,
        limit=limit,
        offset=offset,
    )
    return Page[CredentialOut](
        items=[CredentialOut.of(c) for c in found.items],
        total=found.total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/map/agents/{name}",
    description="What an agent can reach, through which identities, credentials and grants "
    "(every edge says why).",
)
def agent_blast_radius(
    name: str, services: ServicesDep, depth: Annotated[int, Query(ge=1, le=8)] = 4
) -> dict[str, Any]:
    """An agent's blast radius; its description is the route's (it reads as one line)."""
    return services.estate.map.blast_radius(agent=name, depth=depth).to_json()


@router.get("/map/identities/{identity_id:path}")
def identity_blast_radius(
    identity_id: str, services: ServicesDep, depth: Annotated[int, Query(ge=1, le=8)] = 4
) -> dict[str, Any]:
    return services.estate.map.blast_radius(identity=identity_id, depth=depth).to_json()


@router.get("/map/systems")
def list_systems(services: ServicesDep) -> list[dict[str, Any]]:
    return services.estate.map.systems()


@router.get("/map/systems/{system_id:path}")
def who_can_reach(
    system_id: str, services: ServicesDep, resource: str | None = None, limit: Limit = 500
) -> dict[str, Any]:
    """Every identity and credential with a grant on a system (optionally covering one resource)."""
    return services.estate.map.who_can_reach(system_id, resource=resource, limit=limit).to_json()


@router.get("/map/shared")
def shared_credentials(services: ServicesDep, limit: Limit = 100) -> list[dict[str, Any]]:
    """Secrets present in more than one place, and which agents hold the copies."""
    return services.estate.map.shared_credentials(limit=limit)


@router.get("/map/escalation")
def escalation_paths(
    services: ServicesDep,
    account: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 1000,
) -> dict[str, Any]:
    """Identities that can become an administrator (or a more privileged role), step by step."""
    found, truncated = services.estate.map.escalation_paths(account=account, limit=limit)
    return {"paths": found, "truncated": truncated}


@router.get(
    "/map/graph",
    response_model=None,
    responses={
        200: {
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "image/svg+xml": {"schema": {"type": "string"}},
                "application/graphml+xml": {"schema": {"type": "string"}},
            }
        }
    },
)
def graph(
    services: ServicesDep,
    format: Literal["json", "graphml", "svg"] = "json",
    agent: str | None = None,
) -> Response | dict[str, Any]:
    """The agents-and-reach graph (or one agent's) as JSON, GraphML or an SVG picture."""
    if agent:
        drawn = services.estate.map.blast_radius(agent=agent).graph
        title = f"Blast radius of agent {agent}"
    else:
        drawn = services.estate.map.overview()
        title = "Agents and what they reach"
    if format == "svg":
        return Response(render_svg(drawn, title=title), media_type="image/svg+xml")
    if format == "graphml":
        return Response(render_graphml(drawn), media_type="application/graphml+xml")
    return drawn.to_json()


@router.get("/shadow")
def list_shadow(services: ServicesDep) -> list[dict[str, Any]]:
    """Shadow agents: AI-related identities no registered agent claims, with a suggested owner."""
    return [agent.summary() for agent in services.estate.shadow.list()]


@router.post(
    "/shadow/{name}/adopt",
    response_model=AdoptedOut,
    description="Register a shadow agent under a charter (JSON, or YAML with "
    "``Content-Type: application/yaml``).",
)
async def adopt_shadow(
    name: str, request: Request, services: ServicesDep, actor: ActorDep
) -> AdoptedOut:
    """Adopt a shadow agent; its description is the route's (it reads as one line)."""
    body = await request.body()
    if len(body) > MAX_CHARTER_BYTES:
        raise InputTooLarge(f"a charter may be at most {MAX_CHARTER_BYTES} bytes", field="body")
    spec = parse_charter(load_document(body, source="request body"))
    adopted = services.estate.shadow.adopt(name, spec, actor=actor)
    return AdoptedOut(
        name=adopted.name,
        previous_name=adopted.previous_name,
        owner=adopted.owner,
        state=adopted.state.value,
        charter_version=adopted.charter_version,
        identities=list(adopted.identities),
        warnings=list(adopted.warnings),
    )
