"""``/v1/people``: the directory over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from charter.api.models import Page, PeopleImportOut, PersonOut
from charter.domain.enums import PersonStatus
from charter.http.deps import Offset, actor_dep, services_dep
from charter.services.context import Services
from charter.services.people import read_directory

router = APIRouter(prefix="/v1/people", tags=["people"])

ServicesDep = Annotated[Services, Depends(services_dep)]
ActorDep = Annotated[str, Depends(actor_dep)]


@router.post(
    "/import",
    response_model=PeopleImportOut,
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
async def import_people(
    request: Request,
    services: ServicesDep,
    actor: ActorDep,
    allow_unknown: Annotated[
        bool, Query(description="import records with unknown fields, naming them in warnings")
    ] = False,
) -> PeopleImportOut:
    """Upsert people from JSON, a SCIM 2.0 ListResponse, or CSV (``Content-Type: text/csv``).

    A field Charter does not know (``isAdmin``) is refused with 422 unless
    ``allow_unknown=true``, when the records are imported without it and the
    answer's ``warnings`` name it.
    """
    body = await request.body()
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    filename = "request.csv" if media == "text/csv" else "request.json"
    read = read_directory(body, filename=filename, allow_unknown=allow_unknown)
    counts = services.people.import_records(read.records, actor=actor)
    warning = read.warning("the request body")
    return PeopleImportOut(**counts, warnings=[warning] if warning else [])


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
