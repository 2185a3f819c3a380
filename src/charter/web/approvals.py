"""``/approvals``: single calls held for a person's approval, with their arguments.

A charter rule with ``approve`` holds each call it covers; the approver sees the
call — agent, action, resource and every argument — and approves or denies that
exact call (``services/call_approvals.py`` checks who may: the owner or a member
of the named role, active, never the agent). Owners see their own agents' calls;
admins and auditors see all. Approve and deny are POST forms with the CSRF token.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.call_approval import ApprovalStatus, CallApproval
from charter.errors import CharterError, NotFound
from charter.http.deps import services_dep
from charter.services.auth import Principal, UserRole
from charter.web.forms import ConsoleRoute, FormDep, PrincipalDep, require_role
from charter.web.templating import redirect, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _visible(request: Request, principal: Principal, item: CallApproval) -> bool:
    """Admins and auditors see every held call; an owner sees their agents' and those they
    may decide (a rule's ``by: role NAME`` they hold), as their inbox lists them."""
    if principal.owner_scope is None or item.owner.lower() == principal.subject.lower():
        return True
    return services_dep(request).call_approvals.may_decide(item, principal.subject)


@router.get("/approvals")
def approvals(request: Request, principal: PrincipalDep, status: str = "pending") -> Response:
    try:
        wanted = ApprovalStatus(status)
    except ValueError:
        wanted = ApprovalStatus.PENDING
    found = services_dep(request).call_approvals.list(status=wanted)
    rows: list[dict[str, Any]] = [
        {
            "a": item,
            "arguments": json.dumps(dict(item.arguments), indent=2, sort_keys=True),
            "url": quote(item.id, safe=""),
        }
        for item in found
        if _visible(request, principal, item)
    ]
    return render(
        request,
        "approvals.html",
        {
            "rows": rows,
            "status": wanted.value,
            "statuses": [s.value for s in ApprovalStatus],
            "may_write": principal.may_write,
        },
        title="Calls awaiting approval",
    )


def _decide(request: Request, principal: Principal, approval_id: str, *, approve: bool) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)  # auditors read
    service = services_dep(request).call_approvals
    try:
        item = service.get(approval_id)
    except NotFound:
        item = None
    if item is None or not _visible(request, principal, item):  # out of reach answers like missing
        raise NotFound(f"no access request {approval_id!r}", field="id")
    try:
        if approve:
            done = service.approve(approval_id, approver=principal.subject)
        else:
            done = service.deny(approval_id, approver=principal.subject)
    except CharterError as exc:
        return redirect("/approvals", message=str(exc), error=True)
    return redirect(
        "/approvals", message=f"{done.id} ({done.agent} {done.action}): {done.status.value}"
    )


@router.post("/approvals/{approval_id}/approve")
def approve(request: Request, approval_id: str, principal: PrincipalDep, form: FormDep) -> Response:
    return _decide(request, principal, approval_id, approve=True)


@router.post("/approvals/{approval_id}/deny")
def deny(request: Request, approval_id: str, principal: PrincipalDep, form: FormDep) -> Response:
    return _decide(request, principal, approval_id, approve=False)
