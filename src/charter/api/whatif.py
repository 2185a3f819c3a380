"""``POST /v1/what-if``: replay recorded activity against a proposed change (admins).

The body carries the proposed document (a charter, an org policy or a roles
file, as JSON), optionally its ``kind`` and the number of ``days`` to replay.
Nothing is recorded and nothing changes; bad input is a 4xx problem naming the
field. Owners cannot call it: a policy replay reads every agent's activity.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from charter.domain.whatif_input import ProposalKind, parse_proposal_document
from charter.http.deps import services_dep
from charter.services.context import Services
from charter.services.whatif import DEFAULT_DAYS, MAX_DAYS, replay_proposal

router = APIRouter(prefix="/v1/what-if", tags=["what-if"])
ServicesDep = Annotated[Services, Depends(services_dep)]


class WhatIfIn(BaseModel):
    document: dict[str, Any] = Field(description="the proposed charter, org policy or roles")
    kind: ProposalKind | None = Field(default=None, description="default: from its fields")
    days: int = Field(default=DEFAULT_DAYS, ge=1, le=MAX_DAYS)


@router.post("")
def what_if(body: WhatIfIn, services: ServicesDep) -> dict[str, Any]:
    """Which recorded calls the proposal would newly deny or allow, with counts and examples."""
    proposal = parse_proposal_document(body.document, body.kind)
    return replay_proposal(services.whatif, proposal, days=body.days).to_dict()
