"""``/what-if``: paste a proposed charter, org policy or roles file; see what it would have
changed on the calls recorded in the last days (admins, as ``POST /v1/what-if``).

The replay is a question: it records and changes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.charter_parsing import MAX_CHARTER_BYTES
from charter.domain.whatif_input import ProposalKind, parse_proposal_text
from charter.errors import CharterError, InvalidInput
from charter.http.deps import services_dep
from charter.services.auth import UserRole
from charter.services.whatif import DEFAULT_DAYS, MAX_DAYS, check_days, replay_proposal
from charter.web.forms import ConsoleRoute, FormDep, PrincipalDep, field, require_role
from charter.web.templating import render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/what-if")
def what_if_form(request: Request, principal: PrincipalDep) -> Response:
    require_role(principal, UserRole.ADMIN)
    context = {
        "form": {"document": "", "days": DEFAULT_DAYS, "kind": ""},
        "report": None,
        "error": None,
    }
    return render(request, "whatif.html", {**context, "kinds": list(ProposalKind)}, title="What-if")


@router.post("/what-if")
def what_if(request: Request, principal: PrincipalDep, form: FormDep) -> Response:
    require_role(principal, UserRole.ADMIN)
    document = field(form, "document", limit=MAX_CHARTER_BYTES)
    kind = field(form, "kind", required=False) or None
    days_text = field(form, "days", required=False) or str(DEFAULT_DAYS)
    shown = {"document": document, "days": days_text, "kind": kind or ""}
    report, error = None, None
    try:
        if not days_text.isdigit():
            raise InvalidInput(f"days must be a whole number from 1 to {MAX_DAYS}", field="days")
        days = check_days(int(days_text))
        proposal = parse_proposal_text(document, kind=kind, source="the proposal")
        report = replay_proposal(services_dep(request).whatif, proposal, days=days)
    except CharterError as exc:
        error = str(exc)
    return render(
        request,
        "whatif.html",
        {"form": shown, "report": report, "error": error, "kinds": list(ProposalKind)},
        status=200 if error is None else 400,
        title="What-if",
    )
