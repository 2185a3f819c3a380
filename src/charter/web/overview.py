"""``/``: the estate at a glance — every number links to the list behind it."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.enums import AgentState, Severity
from charter.http.deps import services_dep
from charter.services.console import governance_queries
from charter.services.console.summaries import summaries_of
from charter.web.charts import PALETTE, Bar, bar_chart, day_columns, stacked_bar
from charter.web.findings_meta import owasp_counts
from charter.web.forms import ConsoleRoute, PrincipalDep
from charter.web.templating import may_open, render, svg

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _href(path: str, **params: str) -> str:
    return f"{path}?{urlencode(params)}" if params else path


@router.get("/")
def overview(request: Request, principal: PrincipalDep) -> Response:
    services = services_dep(request)
    owner = principal.owner_scope
    now = services.clock.now()
    summaries = summaries_of(request)
    data = governance_queries.overview(
        services.db,
        summaries.findings(),
        summaries.estate() if owner is None else None,
        now=now,
        owner=owner,
    )
    states = [
        Bar(s.value, data.states.get(s.value, 0), _href("/agents", state=s.value))
        for s in AgentState
    ]
    severities = [
        Bar(
            s.value,
            data.findings_by_severity.get(s.value, 0),
            _href("/findings", severity=s.value),
            PALETTE[s.value],
        )
        for s in reversed(Severity)
    ]
    owasp = owasp_counts(data.findings_by_rule)
    owasp_bars = [
        Bar(f"{oid} {title}", n, _href("/findings", owasp=oid)) for oid, title, n in owasp
    ]
    link_systems = may_open(principal, "/map?system=x")
    systems = [
        Bar(s, n, _href("/map", system=s) if link_systems else None)
        for s, n in data.identities_by_system
    ]
    open_findings = sum(data.findings_by_severity.values())
    severe = sum(data.findings_by_severity.get(s, 0) for s in ("critical", "high"))
    cards: list[tuple[str, int | None, str, str]] = [
        ("Agents", sum(data.states.values()), "/agents", ""),
        ("Active agents", data.states.get("active", 0), "/agents?state=active", ""),
        (
            "Suspended",
            data.states.get("suspended", 0),
            "/agents?state=suspended",
            "warn" if data.states.get("suspended") else "",
        ),
    ]
    if owner is None:
        cards.append(
            (
                "Shadow agents awaiting adoption",
                data.shadow,
                "/shadow",
                "bad" if data.shadow else "",
            )
        )
    cards += [
        ("Open findings", open_findings, "/findings", ""),
        ("Critical and high", severe, "/findings?severity=high", "bad" if severe else ""),
        (
            "Secrets found this week",
            data.secrets_this_week,
            "/credentials?found=7d",
            "bad" if data.secrets_this_week else "",
        ),
        ("Reviews due", data.reviews_due, "/reviews", "warn" if data.reviews_due else ""),
        (
            "Credentials expiring in 30 days",
            data.credentials_expiring,
            "/credentials?expiring=30d",
            "warn" if data.credentials_expiring else "",
        ),
    ]
    return render(
        request,
        "overview.html",
        {
            "cards": [
                (label, n, href if may_open(principal, href) else "", tone)
                for label, n, href, tone in cards
            ],
            "scoped": owner is not None,
            "findings_as_of": data.findings_as_of,
            "findings_stale": data.findings_stale,
            "states_chart": svg(stacked_bar(states, label="agents by lifecycle state")),
            "severity_chart": svg(bar_chart(severities, label="open findings by severity")),
            "owasp_chart": svg(bar_chart(owasp_bars[:10], label="open findings by OWASP risk")),
            "trend_chart": svg(
                day_columns(
                    data.findings_per_day,
                    label="findings opened per day, last 30 days",
                    href="/findings",
                )
            ),
            "systems_chart": svg(bar_chart(systems, label="identities by system", width=1100)),
        },
        title="Overview",
    )
