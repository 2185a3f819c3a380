"""``/discovery``: scheduled discovery's sources and their health, as ``charter discover status``.

Each source of the governance policy's ``discovery`` section, what it pulls and how
often, its last success and last error, what it saw and changed, and when the worker
pulls it next. Admins and auditors see it (the estate-wide view, as Shadow AI).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.http.deps import services_dep
from charter.services.auth import UserRole
from charter.web.forms import ConsoleRoute, PrincipalDep, require_role
from charter.web.templating import render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/discovery")
def discovery_sources(request: Request, principal: PrincipalDep) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.AUDITOR)
    governance = services_dep(request).governance
    sources = governance.discovery.status()
    return render(
        request,
        "discovery.html",
        {
            "sources": sources,
            "failing": sum(1 for s in sources if s.health == "failing"),
            "threshold": governance.policy().discovery.failures_before_finding,
        },
    )
