"""Governance over HTTP: findings and posture — the same service calls as the CLI.

Reviews, JIT access, decommissioning, rotation, ownership, tasks and notices are in
:mod:`charter.api.governance_workflows`, whose routes this router includes. Every
listing is scoped to the caller's own agents when the caller is an owner.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from charter.api import governance_workflows
from charter.api.governance_workflows import StatusChange, duration_seconds
from charter.domain.enums import FindingStatus, Severity
from charter.domain.governance.ocsf import to_ocsf_events
from charter.domain.governance.rule_registry import all_rules
from charter.domain.governance.sarif import to_sarif
from charter.errors import InvalidInput, PermissionDenied
from charter.http.deps import Offset, actor_dep, services_dep
from charter.http.security import PrincipalDep, ReachDep, require_writer
from charter.services.context import Services
from charter.services.governance.findings import FindingFilter
from charter.services.governance.posture import PostureBy

router = APIRouter(prefix="/v1", tags=["governance"])
ServicesDep = Annotated[Services, Depends(services_dep)]
ActorDep = Annotated[str, Depends(actor_dep)]


# -- findings ---------------------------------------------------------------------------------
class Suppression(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    until: dt.datetime | None = None
    for_: str | None = Field(default=None, alias="for", description="e.g. 30d")


@router.get("/findings")
def list_findings(
    services: ServicesDep,
    reach: ReachDep,
    actor: ActorDep,
    status: Annotated[list[FindingStatus] | None, Query()] = None,
    severity: Severity | None = None,
    rule: str | None = None,
    agent: str | None = None,
    owner: str | None = None,
    system: str | None = None,
    format: Annotated[str, Query(pattern="^(json|sarif|ocsf)$")] = "json",
    evaluate: bool = True,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Offset = 0,
) -> Any:
    """Findings (open and acknowledged unless ``status`` says otherwise); evaluates first when
    the store changed since the last evaluation. ``format=sarif|ocsf`` for other tools."""
    agent, owner = reach.agent_filter(agent), reach.owner_filter(owner)
    ran = services.governance.evaluation.ensure_current(actor=actor) if evaluate else None
    chosen = tuple(status) if status else FindingFilter().status
    where = FindingFilter(chosen, severity, rule, agent, owner, system)
    found, total = services.governance.findings.list(where, limit=limit, offset=offset)
    if format == "sarif":
        return to_sarif(found)
    if format == "ocsf":
        return to_ocsf_events(found)
    return {
        "items": [f.to_dict() for f in found],
        "total": total,
        "limit": limit,
        "offset": offset,
        "evaluation": ran.to_dict() if ran else None,
    }


@router.post("/findings/evaluate")
def evaluate_findings(services: ServicesDep, principal: PrincipalDep, actor: ActorDep) -> Any:
    require_writer(principal)
    return services.governance.evaluation.evaluate(actor=actor).to_dict()


@router.get("/findings/rules")
def finding_rules() -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "title": r.meta.title,
            "entity": r.meta.entity.value,
            "severity": r.meta.severity.value,
            "owasp": list(r.meta.owasp),
            "description": r.meta.description,
            "remediation": r.meta.remediation,
            "evidence": list(r.meta.evidence),
            "thresholds": list(r.meta.thresholds),
        }
        for r in all_rules()
    ]


@router.get("/findings/{finding_id}")
def get_finding(finding_id: str, reach: ReachDep) -> Any:
    return reach.finding(finding_id).to_dict()


@router.post("/findings/{finding_id}/acknowledge")
def acknowledge_finding(
    finding_id: str,
    body: StatusChange,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    require_writer(principal)
    fid = reach.finding(finding_id).id
    return services.governance.findings.acknowledge(fid, actor=actor, reason=body.reason).to_dict()


@router.post("/findings/{finding_id}/suppress")
def suppress_finding(
    finding_id: str,
    body: Suppression,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    require_writer(principal)
    fid = reach.finding(finding_id).id
    until = body.until
    if until is None:
        seconds = duration_seconds(body.for_, "for")
        if seconds is None:
            raise InvalidInput("give 'until' (a time) or 'for' (a duration)", field="until")
        until = services.clock.now() + dt.timedelta(seconds=seconds)
    return services.governance.findings.suppress(
        fid, actor=actor, reason=body.reason, until=until
    ).to_dict()


@router.post("/findings/{finding_id}/reopen")
def reopen_finding(
    finding_id: str,
    body: StatusChange,
    services: ServicesDep,
    principal: PrincipalDep,
    reach: ReachDep,
    actor: ActorDep,
) -> Any:
    require_writer(principal)
    fid = reach.finding(finding_id).id
    return services.governance.findings.reopen(fid, actor=actor, reason=body.reason).to_dict()


@router.get("/posture")
def posture(
    services: ServicesDep,
    principal: PrincipalDep,
    actor: ActorDep,
    by: PostureBy = PostureBy.AGENT,
    key: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
    evaluate: bool = True,
) -> list[dict[str, Any]]:
    """Risk score per agent, owner or system, each with its explanation."""
    if principal.owner_scope is not None:
        raise PermissionDenied("posture spans every owner: admins and auditors only", field="by")
    if evaluate:
        services.governance.evaluation.ensure_current(actor=actor)
    return [e.to_dict() for e in services.governance.posture.summary(by, key=key, limit=limit)]


@router.get("/discovery/sources")
def discovery_sources(services: ServicesDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Each scheduled discovery source (the policy's ``discovery`` section) and its health:
    last success, last error, records seen, changes, next run (``charter discover status``)."""
    if principal.owner_scope is not None:
        raise PermissionDenied("discovery spans the estate: admins and auditors only", field="role")
    return [s.summary() for s in services.governance.discovery.status()]


# the workflows' routes follow the findings' (one router, one OpenAPI tag)
router.include_router(governance_workflows.router)
