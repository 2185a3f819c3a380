"""``/credentials``: the credentials behind the overview's numbers (found this week, expiring)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.durations import parse_duration
from charter.errors import InvalidInput
from charter.http.deps import services_dep
from charter.services.console import queries
from charter.services.console.summaries import summaries_of
from charter.services.owner_reach import OwnerReach
from charter.web.forms import ConsoleRoute, PrincipalDep
from charter.web.templating import render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _window(value: str, name: str) -> dt.timedelta | None:
    if not value:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=name) from exc
    if seconds > 3650 * 86400:
        raise InvalidInput("at most ten years", field=name)
    return dt.timedelta(seconds=seconds)


@router.get("/credentials")
def credentials(
    request: Request,
    principal: PrincipalDep,
    found: str = "",
    expiring: str = "",
    agent: str = "",
    page: int = 1,
) -> Response:
    services = services_dep(request)
    now = services.clock.now()
    found_window = _window(found, "found")
    expiring_window = _window(expiring, "expiring")
    OwnerReach(services, principal).agent_filter(agent)
    known_total = None
    if found_window == dt.timedelta(days=7) and not agent and principal.owner_scope is None:
        estate = summaries_of(request).estate()  # the overview's number, counted once
        known_total = estate.found_this_week if estate is not None else None
    result = queries.credentials_page(
        services.db,
        agent=agent or None,
        owner=principal.owner_scope,
        found_since=now - found_window if found_window else None,
        expiring=(now, now + expiring_window) if expiring_window else None,
        page=page,
        known_total=known_total,
    )
    if found_window:
        heading = f"Secrets and credentials first found in the last {found}"
    elif expiring_window:
        heading = f"Credentials expiring in the next {expiring}"
    else:
        heading = "Credentials"
    return render(
        request,
        "credentials.html",
        {"page": result, "heading": heading, "agent": agent},
        title="Credentials",
    )
