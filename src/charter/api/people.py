"""``/v1/people``: the directory over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from charter.api.deps import Offset, actor_dep, services_dep
from charter.api.models import Page, PersonOut
from charter.domain.enums import PersonStatus
from charter.services.context import Services
from charter.services.people import parse_directory

router = APIRouter(prefix="/v1/people", tags=["people"])

ServicesDep = Annotated[Services, Depends(services_dep)]
ActorDep = Annotated[str, Depends(actor_dep)]


@router.post(
    "/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": ["array", "object"]}},
                "application/scim+json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_people(request: Request, services: ServicesDep, actor: ActorDep) -> dict[str, int]:
    """Upsert people from JSON, a SCIM 2.0 ListResponse, or CSV (``Content-Type: text/csv``)."""
    body = await request.body()
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    filename = "request.csv" if media == "text/csv" else "request.json"
    records = parse_directory(body, filename=filename)
    return services.people.import_records(records, actor=actor)


@router.get("", response_model=Page[PersonOut])
def list_people(
    services: ServicesDep,
    status: PersonStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Page[PersonOut]:
    people, total = services.people.list(status=status, limit=limit, offset=offset)
    return Page[PersonOut](
        items=[PersonOut.of(p) for p in people], total=total, limit=limit, offset=offset
    )


@router.get("/{email}", response_model=PersonOut)
def get_person(email: str, services: ServicesDep) -> PersonOut:
    return PersonOut.of(services.people.get(email))
