"""``/findings``: what is wrong, filtered every way a person asks; acknowledge or suppress.

Filters: rule, severity, OWASP id (expanded to the rules that map to it),
owner, system, agent, status. Owners see findings on their own agents; auditors
read; owners and admins acknowledge, suppress (with a reason and an end date)
and reopen through the governance finding store, which audits each change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.enums import FindingStatus, Severity
from charter.domain.governance.finding import Finding
from charter.errors import CharterError, InvalidInput
from charter.http.deps import services_dep
from charter.services.auth import Principal, UserRole
from charter.services.console import governance_queries, queries
from charter.services.console.summaries import summaries_of
from charter.services.owner_reach import OwnerReach
from charter.web.findings_meta import owasp_ids, rules, rules_for_owasp
from charter.web.forms import (
    ConsoleRoute,
    FormDep,
    PrincipalDep,
    choice,
    field,
    require_role,
)
from charter.web.templating import may_open, redirect, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def finding_url(finding_id: str) -> str:
    return f"/findings/{quote(finding_id, safe='')}"


def entity_link(finding: Finding, principal: Principal) -> str | None:
    link = _entity_link(finding)
    return link if link is not None and may_open(principal, link) else None


def _entity_link(finding: Finding) -> str | None:
    """Where the finding's entity lives in the console."""
    if finding.entity_type == "agent" or (finding.agent and finding.entity_type != "identity"):
        return f"/agents/{quote(finding.agent or finding.entity_id, safe='')}"
    if finding.entity_type == "identity":
        return f"/map?identity={quote(finding.entity_id, safe='')}"
    if finding.entity_type == "source":  # a scheduled discovery source
        return f"/discovery#source-{quote(finding.entity_id, safe='')}"
    if finding.agent:
        return f"/agents/{quote(finding.agent, safe='')}"
    if finding.system:
        return f"/map?system={quote(finding.system, safe='')}"
    return None


@router.get("/findings")
def findings(
    request: Request,
    principal: PrincipalDep,
    rule: str = "",
    severity: str = "",
    owasp: str = "",
    owner: str = "",
    system: str = "",
    agent: str = "",
    status: str = "",
    page: int = 1,
) -> Response:
    services = services_dep(request)
    wanted_severity = choice(Severity, severity, name="severity")
    wanted_status = choice(FindingStatus, status, name="status")
    scope = principal.owner_scope
    reach = OwnerReach(services, principal)
    owner, agent = reach.owner_filter(owner) or "", reach.agent_filter(agent) or ""
    chosen: tuple[str, ...] = (rule,) if rule else ()
    if owasp:
        mapped = rules_for_owasp(owasp.upper())
        if not mapped:
            raise InvalidInput(f"no rule maps to OWASP id {owasp!r}", field="owasp")
        chosen = tuple(r for r in mapped if not rule or r == rule) or ("-none-",)
    query = governance_queries.FindingQuery(
        rules=chosen,
        severity=wanted_severity,
        status=wanted_status,
        owner=owner or None,
        system=system or None,
        agent=agent or None,
    )
    summary = summaries_of(request).findings()
    result = governance_queries.finding_ids_page(services.db, query, page=page, summary=summary)
    items = governance_queries.load_findings(services.db, result.items)
    return render(
        request,
        "findings.html",
        {
            "page": result,
            "items": [(f, entity_link(f, principal)) for f in items],
            "rules": rules(),
            "facets": governance_queries.finding_facets(summary, owner=scope),
            "owasp_ids": owasp_ids(),
            "severities": [s.value for s in reversed(Severity)],
            "statuses": [s.value for s in FindingStatus],
            "filters": {
                "rule": rule,
                "severity": severity,
                "owasp": owasp.upper(),
                "owner": owner,
                "system": system,
                "agent": agent,
                "status": status,
            },
            "scoped": scope is not None,
            "may_act": principal.may_write,
        },
        title="Findings",
    )


@router.get("/findings/{finding_id}")
def finding_page(request: Request, finding_id: str, principal: PrincipalDep) -> Response:
    services = services_dep(request)
    finding = OwnerReach(services, principal).finding(finding_id)
    events, _ = queries.events_page(services.db, target=finding_id, limit=20)
    details: dict[str, Any] = finding.to_dict()
    return render(
        request,
        "finding.html",
        {
            "f": finding,
            "d": details,
            "link": entity_link(finding, principal),
            "events": events,
            "may_act": principal.may_write,
            "tomorrow": (services.clock.now() + dt.timedelta(days=30)).date().isoformat(),
        },
        title=details["title"],
    )


@router.post("/findings/{finding_id}/status")
def change_status(
    request: Request, finding_id: str, principal: PrincipalDep, form: FormDep
) -> Response:
    """Acknowledge, suppress (reason and end date) or reopen one finding."""
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)
    services = services_dep(request)
    store = services.governance.findings
    finding = OwnerReach(services, principal).finding(finding_id)
    action = field(form, "action", limit=20)
    reason = field(form, "reason", required=action == "suppress")
    back = field(form, "back", required=False, limit=2000)
    back = (
        back
        if back.startswith("/findings") and not back.startswith("//")
        else (finding_url(finding_id))
    )
    actor = str(principal)
    try:
        if action == "acknowledge":
            store.acknowledge(finding_id, actor=actor, reason=reason or None)
        elif action == "suppress":
            until_text = field(form, "until", limit=10)
            try:
                until = dt.datetime.combine(
                    dt.date.fromisoformat(until_text), dt.time(), tzinfo=dt.UTC
                )
            except ValueError as exc:
                raise InvalidInput("until must be a date (YYYY-MM-DD)", field="until") from exc
            store.suppress(finding_id, actor=actor, reason=reason, until=until)
        elif action == "reopen":
            store.reopen(finding_id, actor=actor, reason=reason or None)
        else:
            raise InvalidInput(f"unknown action {action!r}", field="action")
    except CharterError as exc:
        return redirect(back, message=str(exc), error=True)
    done = {"acknowledge": "acknowledged", "suppress": "suppressed", "reopen": "reopened"}[action]
    return redirect(back, message=f"{done}: {finding.message}")
