"""``/v1/audit``: the event log and its verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from charter.api.models import ChainOut, EventOut
from charter.http.deps import MAX_SEQ, services_dep
from charter.services.context import Services

router = APIRouter(prefix="/v1/audit", tags=["audit"])

ServicesDep = Annotated[Services, Depends(services_dep)]


@router.get("", response_model=list[EventOut])
def list_events(
    services: ServicesDep,
    target: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    after_seq: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="only events after this sequence")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
) -> list[EventOut]:
    """Newest first; with ``after_seq``, oldest first from there (for tailing)."""
    events = services.audit.list(
        target=target,
        actor=actor,
        action=action,
        after_seq=after_seq,
        limit=limit,
        newest_first=not after_seq,
    )
    return [EventOut.of(e) for e in events]


@router.get("/verify", response_model=ChainOut)
def verify_chain(services: ServicesDep) -> ChainOut:
    """The chain recomputed with the server's key; ``keyed_from`` ends the legacy segment."""
    report = services.audit.verify().as_dict()
    return ChainOut(**{name: report[name] for name in ChainOut.model_fields})
