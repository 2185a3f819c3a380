"""``/inbox``: what waits on the signed-in person, each item with the link and command that act.

The same items as ``charter inbox`` (:mod:`charter.services.governance.inbox`):
approvals they may decide, reviews due, open tasks, findings on the agents they
own, their notices with delivery state. An admin may open another person's
inbox with ``?person=EMAIL`` (to see what someone has not acted on).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.errors import PermissionDenied
from charter.http.deps import services_dep
from charter.services.governance.inbox import SECTIONS
from charter.web.forms import ConsoleRoute, PrincipalDep
from charter.web.templating import render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

TITLES = {
    "approval": "Waiting for your decision",
    "review": "Reviews due",
    "task": "Open tasks",
    "finding": "Findings on your agents",
    "notice": "Notices",
}


@router.get("/inbox")
def inbox(request: Request, principal: PrincipalDep, person: str | None = None) -> Response:
    who = principal.subject.lower()
    if person and person.strip().lower() != who:
        if not principal.is_admin:
            raise PermissionDenied("only an admin opens another person's inbox", field="person")
        who = person.strip().lower()
    items = services_dep(request).governance.inbox.for_person(who)
    sections = [
        {"key": key, "title": TITLES[key], "rows": [i for i in items if i.section == key]}
        for key in SECTIONS
    ]
    return render(
        request,
        "inbox.html",
        {"who": who, "sections": sections, "total": len(items)},
        title="Inbox",
    )
