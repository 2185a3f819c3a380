"""``/reviews``: an owner's review queue, each decision planned before it is made, and progress.

For each agent the reviewer sees what it may do now, when it last acted, its
findings, and the suggested least-privilege set — with what the agent's
recorded activity would have been denied under it — then keeps, reduces or
revokes. Choosing shows the plan (the charter diff, a suspension) from the
governance review service; submitting applies exactly that. Admins also see
every campaign's progress and can start one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.governance.review_model import ReviewDecision
from charter.domain.patterns import matches
from charter.errors import CharterError, InvalidInput, NotFound
from charter.http.deps import services_dep
from charter.services.auth import Principal, UserRole
from charter.services.console import governance_queries, queries
from charter.services.owner_reach import OwnerReach
from charter.web.forms import ConsoleRoute, FormDep, PrincipalDep, field, require_role
from charter.web.templating import redirect, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

ACTIVITY_WINDOW = dt.timedelta(days=90)


def item_url(campaign: str, agent: str) -> str:
    return f"/reviews/{quote(campaign, safe='')}/{quote(agent, safe='')}"


def would_deny(
    allow: list[dict[str, Any]], used: list[tuple[str, str, int]]
) -> list[tuple[str, str, int]]:
    """Recorded, allowed requests that the reduced allow list would not cover."""
    out = []
    for action, resource, count in used:
        covered = any(
            matches(str(c.get("action", "")), action)
            and matches(str(c.get("resource", "")), resource)
            for c in allow
        )
        if not covered:
            out.append((action, resource, count))
    return out


def _item(
    request: Request, principal: Principal, campaign: str, agent: str
) -> governance_queries.ItemRow:
    services = services_dep(request)
    OwnerReach(services, principal).review_item(campaign, agent)
    item = governance_queries.review_item(services.db, campaign, agent)
    if item is None:
        raise NotFound(f"agent {agent!r} is not in review {campaign!r}", field="agent")
    return item


@router.get("/reviews")
def reviews(request: Request, principal: PrincipalDep, page: int = 1) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)
    services = services_dep(request)
    mine = governance_queries.review_queue(services.db, reviewer=principal.subject, page=page)
    everyone = None
    if principal.is_admin:
        everyone = governance_queries.review_queue(services.db, reviewer=None, page=1, per_page=25)
    return render(
        request,
        "reviews.html",
        {
            "mine": mine,
            "everyone": everyone,
            "campaigns": governance_queries.campaigns(services.db) if principal.is_admin else [],
            "is_admin": principal.is_admin,
        },
        title="Reviews",
    )


@router.post("/reviews/start")
def start(request: Request, principal: PrincipalDep, form: FormDep) -> Response:
    require_role(principal, UserRole.ADMIN)
    scope = field(form, "scope", limit=400)
    days_text = field(form, "due_days", required=False, limit=4) or "14"
    if not days_text.isdigit() or not 1 <= int(days_text) <= 365:
        raise InvalidInput("due in 1 to 365 days", field="due_days")
    try:
        campaign = services_dep(request).governance.reviews.start(
            scope, actor=str(principal), due_in=int(days_text) * 86400
        )
    except CharterError as exc:
        return redirect("/reviews", message=str(exc), error=True)
    return redirect(
        "/reviews",
        message=f"started review {campaign.id}: "
        f"{len(campaign.items)} agent(s), scope {campaign.scope}",
    )


@router.get("/reviews/{campaign}/{agent}")
def review_item(
    request: Request, campaign: str, agent: str, principal: PrincipalDep, decision: str = ""
) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)
    services = services_dep(request)
    item = _item(request, principal, campaign, agent)
    suggestion: dict[str, Any] = item.snapshot.get("suggestion") or {}
    least = list(item.snapshot.get("least_privilege") or [])
    used = queries.allowed_activity(
        services.db, agent, since=services.clock.now() - ACTIVITY_WINDOW
    )
    plan = None
    plan_error = None
    if decision and item.status == "pending":
        try:
            plan = services.governance.reviews.plan_decision(
                campaign, agent, ReviewDecision(decision)
            )
        except ValueError as exc:
            raise InvalidInput(
                f"decide keep, reduce or revoke, not {decision!r}", field="decision"
            ) from exc
        except CharterError as exc:
            plan_error = str(exc)
    diff = []
    if plan is not None:
        for line in plan.diff.splitlines()[2:]:
            kind = (
                "add"
                if line.startswith("+")
                else "del"
                if line.startswith("-")
                else ("hunk" if line.startswith("@@") else "same")
            )
            diff.append((kind, line))
    return render(
        request,
        "review.html",
        {
            "item": item,
            "snap": item.snapshot,
            "suggestion": suggestion,
            "least": least,
            "used": used,
            "denied": would_deny(least, used),
            "decision": decision,
            "plan": plan,
            "plan_error": plan_error,
            "diff": diff,
            "may_decide": item.status == "pending"
            and principal.subject in (item.reviewer, services.registry.get(agent).owner),
        },
        title=f"Review {agent}",
    )


@router.post("/reviews/{campaign}/{agent}")
def decide(
    request: Request, campaign: str, agent: str, principal: PrincipalDep, form: FormDep
) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)
    _item(request, principal, campaign, agent)
    value = field(form, "decision", limit=10)
    try:
        decision = ReviewDecision(value)
    except ValueError as exc:
        raise InvalidInput(
            f"decide keep, reduce or revoke, not {value!r}", field="decision"
        ) from exc
    reason = field(form, "reason", required=False)
    try:
        done = services_dep(request).governance.reviews.decide(
            campaign, agent, decision, by=principal.subject, actor=str(principal), reason=reason
        )
    except CharterError as exc:
        return redirect(
            item_url(campaign, agent) + f"?decision={decision.value}", message=str(exc), error=True
        )
    note = f"{agent}: {done.status.value}"
    if done.new_charter_version:
        note += f" (charter v{done.new_charter_version})"
    return redirect("/reviews", message=note)
