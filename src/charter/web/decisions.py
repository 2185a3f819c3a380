"""``/decisions``: ask the decision point a question and see its answer with every reason.

The same engine as AuthZEN (``services.decisions.decide``), with
``record=False``: a person's "what if" is not the agent's activity, so it never
feeds findings or baselines. A GET with the question in the URL, so every
answer has a link a person can share; nothing changes, so no CSRF token is
needed. Owners may ask about their own agents; admins about any.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.nesting import load_json
from charter.errors import InvalidInput
from charter.http.deps import services_dep
from charter.services.auth import UserRole
from charter.services.console import queries
from charter.services.owner_reach import OwnerReach
from charter.web.forms import ConsoleRoute, PrincipalDep, require_role
from charter.web.templating import render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

MAX_CONTEXT_BYTES = 64 * 1024


def parse_context(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    if len(text.encode()) > MAX_CONTEXT_BYTES:
        raise InvalidInput(f"the context may be at most {MAX_CONTEXT_BYTES} bytes", field="context")
    value = load_json(text, source="the context", field="context")
    if not isinstance(value, dict):
        raise InvalidInput('the context is a JSON object, e.g. {"amount": 10}', field="context")
    return value


@router.get("/decisions")
def decision_tester(
    request: Request,
    principal: PrincipalDep,
    agent: str = "",
    action: str = "",
    resource: str = "",
    context: str = "",
    on_behalf_of: str = "",
) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)
    services = services_dep(request)
    decision = None
    rule = None
    error = None
    asked = bool(agent and action and resource)
    if asked:
        OwnerReach(services, principal).agent(agent)
        try:
            parsed = parse_context(context)
        except InvalidInput as exc:
            error, asked = str(exc), False
        else:
            decision = services.decisions.decide(
                agent.strip(),
                action.strip()[:256],
                resource.strip()[:1024],
                context=parsed,
                on_behalf_of=on_behalf_of.strip().lower() or None,
                source="console",
                record=False,
            )
            if decision.allowed:
                rule = services.decisions.allow_rule(agent.strip(), decision.rule)
    return render(
        request,
        "decisions.html",
        {
            "agents": queries.agent_names(services.db, owner=principal.owner_scope),
            "form": {
                "agent": agent,
                "action": action,
                "resource": resource,
                "context": context,
                "on_behalf_of": on_behalf_of,
            },
            "decision": decision,
            "rule": rule,
            "error": error,
            "asked": asked,
        },
        title="Decisions",
    )
