"""``/changes``: pending changes that widen an agent's access, with their diff and a decision.

The same proposals as ``/v1/changes`` (``services/changes.py``): a charter
version that allows more, a just-in-time grant, a resume after someone else's
suspension. Owners see their own agents' proposals and those they may approve;
admins and auditors see all. Approving applies the change at once; the console
never offers the requester an approval (the service refuses it anyway).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.errors import CharterError
from charter.http.deps import services_dep
from charter.services.auth import Principal, UserRole
from charter.services.changes import Proposal, ProposalStatus
from charter.web.forms import ConsoleRoute, FormDep, PrincipalDep, field, require_role
from charter.web.templating import redirect, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _viewer(principal: Principal) -> str | None:
    return principal.subject.lower() if principal.owner_scope is not None else None


def _diff_lines(proposal: Proposal) -> list[tuple[str, str]]:
    out = []
    for line in str(proposal.diff.get("text", "")).splitlines():
        if line.startswith(("---", "+++")):
            continue
        kind = "add" if line.startswith("+") else "del" if line.startswith("-") else "same"
        out.append(("hunk" if line.startswith("@@") else kind, line))
    return out


@router.get("/changes")
def changes(request: Request, principal: PrincipalDep, status: str = "pending") -> Response:
    try:
        wanted = ProposalStatus(status)
    except ValueError:
        wanted = ProposalStatus.PENDING
    found = services_dep(request).governance.changes.list(
        status=wanted, visible_to=_viewer(principal), limit=200
    )
    rows: list[dict[str, Any]] = [
        {
            "p": p,
            "diff": _diff_lines(p),
            "mine": p.requested_by.lower() == principal.subject.lower(),
            "url": quote(p.id, safe=""),
        }
        for p in found
    ]
    return render(
        request,
        "changes.html",
        {"rows": rows, "status": wanted.value, "may_write": principal.may_write},
        title="Pending changes",
    )


def _decide(
    request: Request, principal: Principal, change_id: str, form: Any, *, approve: bool
) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)  # auditors read
    changes_service = services_dep(request).governance.changes
    # out of reach answers 404 like a missing id (not a flash message that confirms it exists)
    changes_service.get(change_id, visible_to=_viewer(principal))
    try:
        reason = field(form, "reason", required=not approve)
        if approve:
            done = changes_service.approve(
                change_id, by=principal.subject, actor=str(principal), reason=reason or None
            )
        else:
            done = changes_service.reject(
                change_id, by=principal.subject, actor=str(principal), reason=reason
            )
    except CharterError as exc:
        return redirect("/changes", message=str(exc), error=True)
    return redirect("/changes", message=f"{done.id} ({done.agent}): {done.status.value}")


@router.post("/changes/{change_id}/approve")
def approve(request: Request, change_id: str, principal: PrincipalDep, form: FormDep) -> Response:
    return _decide(request, principal, change_id, form, approve=True)


@router.post("/changes/{change_id}/reject")
def reject(request: Request, change_id: str, principal: PrincipalDep, form: FormDep) -> Response:
    return _decide(request, principal, change_id, form, approve=False)
