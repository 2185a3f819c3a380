"""``/shadow``: AI agents and credentials nobody registered — adopt them or dismiss them.

Adopting turns a shadow agent into a registered (proposed) agent under a
charter a person uploads or writes, through the estate's shadow service, which
keeps its history and identities. Dismissing retires it (decommissioned, with
the reason) so it stops asking for attention; either way the audit log names
who did it. Admins act; auditors look.
"""

from __future__ import annotations

from urllib.parse import quote

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.discovery.scan.agent_code import AI_SYSTEMS
from charter.domain.enums import AgentState
from charter.domain.lifecycle import Transition
from charter.errors import CharterError, Conflict
from charter.http.deps import services_dep
from charter.services.attribution import UNOWNED
from charter.services.auth import UserRole
from charter.services.console import queries
from charter.services.shadow import ShadowAgent
from charter.web.agents import charter_from_form
from charter.web.forms import ConsoleRoute, FormDep, PrincipalDep, field, require_role
from charter.web.templating import redirect, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def suggested_charter(row: ShadowAgent) -> str:
    """A starting charter for adoption: its name, the suggested owner, its identities."""
    document = {
        "name": row.name,
        "owner": "" if row.suggested_owner == UNOWNED else row.suggested_owner,
        "purpose": row.purpose if len(row.purpose) >= 10 else f"{row.purpose} (describe it)",
        "identities": [i.id for i in row.identities],
        "allow": [],
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


@router.get("/shadow")
def shadow(request: Request, principal: PrincipalDep, page: int = 1) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.AUDITOR)
    services = services_dep(request)
    result = queries.shadow_page(services.db, page=page)
    return render(
        request,
        "shadow.html",
        {
            "page": result,
            "drafts": {row.name: suggested_charter(row) for row in result.items},
            "unowned": UNOWNED,
            "credentials": queries.unclaimed_ai_credentials(services.db, AI_SYSTEMS),
            "may_act": principal.is_admin,
        },
        title="Shadow AI",
    )


def _shadow_agent(request: Request, name: str) -> None:
    agent = services_dep(request).registry.get(name)
    if agent.state != AgentState.DISCOVERED:
        raise Conflict(f"{name} is not awaiting adoption (it is {agent.state.value})", field="name")


@router.post("/shadow/{name}/adopt")
async def adopt(request: Request, name: str, principal: PrincipalDep, form: FormDep) -> Response:
    require_role(principal, UserRole.ADMIN)
    _shadow_agent(request, name)
    try:
        spec = await charter_from_form(form)
        adopted = services_dep(request).estate.shadow.adopt(name, spec, actor=str(principal))
    except CharterError as exc:
        return redirect(f"/shadow#{quote(name, safe='')}", message=f"{name}: {exc}", error=True)
    note = f"adopted {name} as {adopted.name}, owned by {adopted.owner} (proposed)"
    if adopted.warnings:
        note += "; " + "; ".join(adopted.warnings)
    return redirect(f"/agents/{quote(adopted.name, safe='')}", message=note)


@router.post("/shadow/{name}/dismiss")
def dismiss(request: Request, name: str, principal: PrincipalDep, form: FormDep) -> Response:
    require_role(principal, UserRole.ADMIN)
    _shadow_agent(request, name)
    reason = field(form, "reason")
    services_dep(request).registry.transition(
        name, Transition.DECOMMISSION, actor=str(principal), reason=f"dismissed: {reason}"
    )
    return redirect("/shadow", message=f"dismissed {name}: {reason}")
