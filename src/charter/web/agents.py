"""``/agents``: the table of agents, each agent's page, and its lifecycle actions.

Owners see and act on their own agents only (another owner's agent is "not
found", exactly like a missing one); auditors read; admins do everything.
Decommissioning shows the plan first (``GET …/decommission``) and applies it
only when confirmed (``POST``). Every action names the signed-in person in
the audit log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from charter.domain.agent import Agent
from charter.domain.charter import CharterSpec
from charter.domain.charter_parsing import MAX_CHARTER_BYTES, parse_charter_text
from charter.domain.enums import AgentState
from charter.domain.lifecycle import Transition, allowed_transitions
from charter.errors import CharterError, InputTooLarge, InvalidInput, NotFound, PermissionDenied
from charter.http.deps import services_dep
from charter.http.security import may_transition, require_transition
from charter.services.agent_registry import version_diff
from charter.services.attribution import UNOWNED
from charter.services.auth import Principal, UserRole
from charter.services.changes import Proposal
from charter.services.console import queries
from charter.services.console.summaries import summaries_of
from charter.services.governance.findings import FindingFilter
from charter.services.owner_reach import OwnerReach
from charter.web.forms import (
    ConsoleRoute,
    FormDep,
    PrincipalDep,
    choice,
    field,
    require_role,
)
from charter.web.mapview import render_map
from charter.web.templating import may_open, redirect, render, svg

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def agent_url(name: str, anchor: str = "") -> str:
    return f"/agents/{quote(name, safe='')}" + (f"#{anchor}" if anchor else "")


async def charter_from_form(form: FormData) -> CharterSpec:
    """A charter from an uploaded file, or else from the text area (YAML or JSON)."""
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_CHARTER_BYTES + 1)
        if len(data) > MAX_CHARTER_BYTES:
            raise InputTooLarge(
                f"{upload.filename} is larger than {MAX_CHARTER_BYTES} bytes", field="file"
            )
        if data.strip():
            return parse_charter_text(data, source=upload.filename[:200])
    text = form.get("charter")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("upload a charter file or write one in the text box", field="charter")
    return parse_charter_text(text, source="the charter text")


# -- the table ----------------------------------------------------------------------------------
@router.get("/agents")
def agents(
    request: Request,
    principal: PrincipalDep,
    q: str = "",
    state: str = "",
    owner: str = "",
    sort: str = "name",
    dir: str = "asc",
    page: int = 1,
) -> Response:
    services = services_dep(request)
    scope = principal.owner_scope
    chosen = OwnerReach(services, principal).owner_filter(owner.strip())
    wanted = choice(AgentState, state, name="state")
    summary = summaries_of(request).findings()
    result = queries.agents_page(
        services.db,
        q=q[:200],
        state=wanted,
        owner=chosen,
        sort=sort,
        descending=dir == "desc",
        page=page,
        open_findings=summary.by_agent if summary is not None else None,
    )
    return render(
        request,
        "agents.html",
        {
            "page": result,
            "q": q,
            "state": wanted.value if wanted else "",
            "owner": owner if scope is None else "",
            "sort": sort,
            "descending": dir == "desc",
            "states": [s.value for s in AgentState],
            "scoped": scope is not None,
            "may_register": principal.may_write,
            "unowned": UNOWNED,
        },
        title="Agents",
    )


# -- registering a new agent -------------------------------------------------------------------
@router.get("/agents/new")
def new_agent(request: Request, principal: PrincipalDep) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)
    return render(request, "agent_new.html", {"error": None, "text": ""}, title="Register an agent")


@router.post("/agents/new")
async def register_agent(request: Request, principal: PrincipalDep, form: FormDep) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)
    services = services_dep(request)
    try:
        spec = await charter_from_form(form)
        if principal.owner_scope is not None and spec.owner != principal.owner_scope:
            raise PermissionDenied(
                f"you can register only agents you own; this charter names {spec.owner}",
                field="owner",
            )
        result = services.registry.register(spec, actor=str(principal))
    except CharterError as exc:
        text = form.get("charter")
        return render(
            request,
            "agent_new.html",
            {"error": str(exc), "text": text if isinstance(text, str) else ""},
            status=exc.status,
            title="Register an agent",
        )
    note = f"registered {result.agent.name} (proposed: an admin activates it)"
    if result.warnings:
        note += "; " + "; ".join(result.warnings)
    return redirect(agent_url(result.agent.name), message=note)


# -- one agent ----------------------------------------------------------------------------------
def _visible_agent(request: Request, principal: Principal, name: str) -> Agent:
    return OwnerReach(services_dep(request), principal).agent(name)


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    out = []
    for line in diff.splitlines()[2:]:  # skip the ---/+++ header
        kind = (
            "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else ("hunk" if line.startswith("@@") else "")
        )
        out.append((kind, line))
    return out


def _reach(request: Request, principal: Principal, name: str) -> dict[str, Any]:
    services = services_dep(request)
    try:
        reach = services.estate.map.blast_radius(agent=name, limit=400)
    except (CharterError, AttributeError):
        return {"svg": None, "paths": [], "hidden": 0, "truncated": False}
    picture = render_map(
        reach.graph,
        label=f"what {name} can reach",
        cap=25,
        link_systems=may_open(principal, "/map?system=x"),
    )
    return {
        "svg": svg(picture.svg) if reach.graph.edges else None,
        "paths": reach.paths[:100],
        "hidden": picture.hidden,
        "truncated": reach.truncated,
    }


@router.get("/agents/{name}")
def agent_page(request: Request, name: str, principal: PrincipalDep) -> Response:
    services = services_dep(request)
    agent = _visible_agent(request, principal, name)
    history = services.registry.history(name)
    versions = [
        {
            "version": v,
            "diff": _diff_lines(version_diff(history[i - 1] if i else None, v)) if i else [],
        }
        for i, v in enumerate(history)
    ][::-1]
    events, _ = queries.events_page(services.db, target=name, limit=30)
    credentials = queries.credentials_page(services.db, agent=name, per_page=25)
    try:
        keys = services.tokens.agent_keys(name)
    except (CharterError, AttributeError):
        keys = []
    findings, findings_total = services.governance.findings.list(
        FindingFilter(agent=name), limit=50
    )
    transitions = [
        t.value
        for t in allowed_transitions(agent.state)
        if t != Transition.DECOMMISSION and may_transition(principal, t.value)
    ]
    return render(
        request,
        "agent.html",
        {
            "agent": agent,
            "spec": agent.charter,
            "versions": versions,
            "events": events,
            "credentials": credentials,
            "keys": keys,
            "now": services.clock.now(),
            "reach": _reach(request, principal, name),
            "decisions": queries.recent_decisions(services.db, name),
            "findings": findings,
            "findings_total": findings_total,
            "transitions": transitions,
            "may_transfer": principal.may_write and agent.state != AgentState.DECOMMISSIONED,
            "may_decommission": agent.state != AgentState.DECOMMISSIONED
            and may_transition(principal, "decommission"),
            "may_test": principal.may_write,
        },
        title=agent.name,
    )


@router.post("/agents/{name}/transition")
def transition_agent(
    request: Request, name: str, principal: PrincipalDep, form: FormDep
) -> Response:
    agent = _visible_agent(request, principal, name)
    value = field(form, "transition", limit=32)
    try:
        transition = Transition(value)
    except ValueError as exc:
        raise InvalidInput(f"unknown lifecycle action {value!r}", field="transition") from exc
    if transition == Transition.DECOMMISSION:
        return redirect(agent_url(name) + "/decommission")
    require_transition(principal, transition.value)
    reason = field(form, "reason")
    services = services_dep(request)
    try:
        if transition == Transition.RESUME:  # may need a second person (services/changes.py)
            resumed = services.governance.changes.resume(
                agent.name, actor=str(principal), reason=reason, admin=principal.is_admin
            )
            if isinstance(resumed, Proposal):
                message = f"resuming {name} waits for approval ({resumed.id})"
                return redirect("/changes", message=message)
            updated = resumed
        else:
            updated = services.registry.transition(
                agent.name, transition, actor=str(principal), reason=reason
            )
    except CharterError as exc:
        return redirect(agent_url(name), message=str(exc), error=True)
    return redirect(agent_url(name), message=f"{name} is now {updated.state.value}")


@router.post("/agents/{name}/transfer")
def transfer_agent(request: Request, name: str, principal: PrincipalDep, form: FormDep) -> Response:
    require_role(principal, UserRole.ADMIN, UserRole.OWNER)
    _visible_agent(request, principal, name)
    to = field(form, "to", limit=320)
    reason = field(form, "reason", required=False) or "transferred in the console"
    try:
        agent = services_dep(request).registry.transfer(
            name, to, actor=str(principal), reason=reason
        )
    except CharterError as exc:
        return redirect(agent_url(name), message=str(exc), error=True)
    return redirect(
        agent_url(name) if principal.owner_scope is None else "/agents",
        message=f"{name} now belongs to {agent.owner}",
    )


@router.get("/agents/{name}/decommission")
def decommission_plan(request: Request, name: str, principal: PrincipalDep) -> Response:
    agent = _visible_agent(request, principal, name)
    require_transition(principal, "decommission")
    plan = services_dep(request).governance.decommission.plan(agent.name)
    return render(
        request, "decommission.html", {"agent": agent, "plan": plan}, title=f"Decommission {name}"
    )


@router.post("/agents/{name}/decommission")
def decommission(request: Request, name: str, principal: PrincipalDep, form: FormDep) -> Response:
    agent = _visible_agent(request, principal, name)
    require_transition(principal, "decommission")
    reason = field(form, "reason")
    try:
        result = services_dep(request).governance.decommission.apply(
            agent.name, actor=str(principal), reason=reason
        )
    except NotFound:
        raise
    except CharterError as exc:
        return redirect(agent_url(name) + "/decommission", message=str(exc), error=True)
    tasks = len(result.tasks)
    return redirect(
        agent_url(name),
        message=f"{name} is decommissioned; {tasks} task(s) filed "
        "for what Charter cannot revoke itself",
    )
