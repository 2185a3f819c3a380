"""``/audit``: the hash-chained event log, filterable, with the chain's verification status.

Verifying re-hashes the whole chain, which is linear in its length; the page
verifies at once when the log is small and otherwise on request
(``?verify=1``), remembering the last result in the process with its time.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from charter.domain.audit import Event
from charter.domain.audit_change import change_lines
from charter.http.deps import MAX_SEQ, services_dep
from charter.services.audit import ChainReport
from charter.services.auth import UserRole
from charter.services.console import queries
from charter.web.forms import ConsoleRoute, PrincipalDep, require_role
from charter.web.templating import render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

#: Verify on every visit up to this many events; beyond, on request.
VERIFY_INLINE_UP_TO = 20_000
_last: dict[int, tuple[Any, ChainReport]] = {}
_lock = threading.Lock()


def _changes(event: Event) -> tuple[Any, Any]:
    """Its summary's before and after; none when a damaged row's summary is not JSON (the
    page still lists it, and the chain's verification reports it)."""
    try:
        summary = json.loads(event.summary)
    except ValueError:
        summary = {}
    return summary.get("before"), summary.get("after")


@router.get("/audit")
def audit(
    request: Request,
    principal: PrincipalDep,
    actor: str = "",
    action: str = "",
    target: str = "",
    before: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
    verify: bool = False,
) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.AUDITOR)
    services = services_dep(request)
    rows, cursor = queries.events_page(
        services.db,
        actor=actor or None,
        action=action or None,
        target=target or None,
        before=before,
    )
    count = services.audit.count()
    key = id(services)
    report: ChainReport | None = None
    checked_at = None
    if verify or count <= VERIFY_INLINE_UP_TO:
        report = services.audit.verify()
        checked_at = services.clock.now()
        with _lock:
            _last[key] = (checked_at, report)
    elif key in _last:
        checked_at, report = _last[key]
    return render(
        request,
        "audit.html",
        {
            "events": [(e, *_changes(e)) for e in rows],
            "change_lines": change_lines,
            "cursor": cursor,
            "count": count,
            "report": report,
            "checked_at": checked_at,
            "actions": queries.event_actions(services.db),
            "filters": {"actor": actor, "action": action, "target": target},
        },
        title="Audit",
    )
