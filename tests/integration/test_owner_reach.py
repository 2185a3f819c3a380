"""Owner isolation, route by route: every route an owner can call, walked with another
owner's objects, against a real server on the sample estate.

The walk is driven by the application's own route table. Every route an owner
may reach (the ``/v1`` prefixes open to owners, and every console page) must be
classified here — called with the victim's objects (:data:`CALLS`), checked for
leaks as a listing (:data:`LISTINGS`), or exempt with a reason (:data:`EXEMPT`) —
so a route added without an owner check fails this test until someone decides.
Every other ``/v1`` route is called as the owner and must answer 403.

For each refusal, the same call with an id that does not exist must answer the
same way (status, problem title and field), so ids cannot be probed; and the
victim's own calls must *not* answer 404, so the walk cannot pass by calling
ids that do not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from tests.support.console import SAMPLE_USERS, api_token, csrf_of, load_sample_estate, sign_in
from tests.support.owner_reach_routes import (
    AGENT,
    ATTACKER,
    CALLS,
    EXEMPT,
    GHOST,
    LISTINGS,
    VICTIM,
    Call,
)
from tests.support.server import LiveServer, charter_env, live_server

import charter
from charter.config import Settings
from charter.domain.charter import Capability
from charter.domain.charter_parsing import parse_charter
from charter.domain.lifecycle import Transition
from charter.http.security import Zone, api_refusal, zone_of
from charter.server import create_app
from charter.services.auth import Principal, UserRole, Via
from charter.services.changes import Proposal
from charter.services.context import Services
from charter.services.governance.tasks import file_task


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) through included routers, which this FastAPI keeps lazily: a
    router included into another gets the including router's prefix only at request time."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes, prefix + route.include_context.prefix)
        else:
            yield prefix + getattr(route, "path", ""), route


def _owner_reachable(method: str, path: str) -> bool:
    zone = zone_of(path)
    if zone == Zone.CONSOLE or path.startswith("/login") or path == "/logout":
        return True
    owner = Principal(ATTACKER, UserRole.OWNER, Via.API_TOKEN)
    return zone == Zone.API and api_refusal(owner, method, path) is None


def _app_routes(home: Path) -> list[tuple[str, str]]:
    services = Services.from_settings(Settings(home=home, database_url=f"sqlite:///{home}/r.db"))
    try:
        app = create_app(services)
        return sorted(
            (method, path)
            for path, route in _routes(app.routes)
            if isinstance(route, APIRoute)
            for method in route.methods
            if method != "HEAD"
        )
    finally:
        services.close()


def test_every_owner_reachable_route_is_walked(tmp_path: Path) -> None:
    """A new route an owner can call fails here until it is walked or exempted with a reason."""
    routes = _app_routes(tmp_path)
    reachable = {r for r in routes if _owner_reachable(*r)}
    classified = {(c.method, c.route) for c in CALLS} | set(LISTINGS) | set(EXEMPT)
    missing = sorted(reachable - classified)
    stale = sorted(classified - reachable)
    assert not missing, f"owner-reachable routes not walked by this test: {missing}"
    assert not stale, f"walked routes that no longer exist or owners cannot reach: {stale}"
    with_ids = {r for r in reachable if "{" in r[1]}
    walked = {(c.method, c.route) for c in CALLS}
    unwalked = sorted(r for r in with_ids - walked if r not in EXEMPT)
    assert not unwalked, f"routes taking an id but never called with another owner's: {unwalked}"


# -- the walk against a live server -------------------------------------------------------------
@dataclass
class Owner:
    email: str
    api: httpx.Client
    console: httpx.Client
    csrf: str = ""
    seen: list[str] = field(default_factory=list)

    def send(self, call: Call, path: str, objects: dict[str, str]) -> httpx.Response:
        if path.startswith("/v1"):
            body = _body(call.json, objects)
            if isinstance(body, bytes):
                return self.api.request(
                    call.method, path, content=body, headers={"content-type": "application/yaml"}
                )
            return self.api.request(call.method, path, json=body)
        if call.method == "GET":
            return self.console.get(path)
        form = {k: _fill(v, objects) for k, v in (call.form or {}).items()}
        if "charter" in form:
            form["charter"] = _VICTIM_CHARTER
        return self.console.post(path, data={"csrf_token": self.csrf, **form})


_VICTIM_CHARTER = f"name: support-summarizer\nowner: {VICTIM}\npurpose: take it over\n"


def _fill(text: str, objects: dict[str, str]) -> str:
    return text.format(**objects) if "{" in text else text


def _body(body: dict[str, Any] | None, objects: dict[str, str]) -> Any:
    if body is None:
        return None
    if body.get("charter"):
        return _VICTIM_CHARTER.encode()
    return {k: _fill(v, objects) if isinstance(v, str) else v for k, v in body.items()}


def _held_call(services: Services) -> str:
    """A call of the victim's agent held for the victim's approval: its access request id."""
    bot = {
        "name": "victim-payer",
        "owner": VICTIM,
        "purpose": "Pays invoices once its owner approves each payment.",
        "allow": [{"action": "pay", "resource": "bank:*", "approve": {"by": "owner"}}],
    }
    services.registry.register(parse_charter(bot), actor="test:setup")
    services.registry.transition("victim-payer", Transition.ACTIVATE, actor="t", reason="ok")
    services.decisions.refresh()
    held = charter.decide("victim-payer", "pay", "bank:acct/1", services=services)
    assert held.needs_approval
    return services.call_approvals.list(agent="victim-payer")[0].id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    env = charter_env(tmp_path_factory.mktemp("reach"))
    load_sample_estate(env)
    services = Services.from_settings(Settings.from_env(env))
    try:
        governance = services.governance
        governance.rotation.schedule(actor="test:setup")
        rotation = next(r.id for r in governance.rotation.list(agent=AGENT))
        grant = governance.jit.request(
            AGENT,
            action="tickets.read",
            resource="zendesk:tickets/1",
            reason="triage",
            actor=VICTIM,
        ).id
        with services.db.write() as connection:
            task = file_task(
                connection,
                kind="revoke",
                target_type="credential",
                target="k-1",
                title="revoke the key",
                steps=["do it"],
                actor="test:setup",
                now=services.clock.now(),
                agent=AGENT,
                assignee=VICTIM,
            )
        charter = services.registry.get(AGENT).charter
        assert charter is not None
        wider = charter.model_copy(update={"allow": [*charter.allow, Capability(action="*")]})
        change = governance.changes.update_charter(wider, actor=VICTIM)
        assert isinstance(change, Proposal)
        approval = _held_call(services)
        findings, _ = governance.findings.list()
        finding = next(f.id for f in findings if f.owner == VICTIM)
        campaign = next(c.id for c in governance.reviews.list() if c.scope == f"agent:{AGENT}")
    finally:
        services.close()
    objects = {
        "agent": AGENT,
        "finding": finding,
        "prefix": finding[:8],
        "campaign": campaign,
        "grant": grant,
        "rotation": rotation,
        "task": task,
        "change": change.id,
        "approval": approval,
    }
    with live_server(env) as running:
        yield running, objects


def _owner(server: LiveServer, email: str) -> Owner:
    token = api_token(server, email)
    api = httpx.Client(
        base_url=server.url, timeout=30, headers={"authorization": f"Bearer {token}"}
    )
    console = sign_in(server, email, SAMPLE_USERS[email][1])
    owner = Owner(email, api, console)
    owner.csrf = csrf_of(console.get("/agents/new").text)
    return owner


def _problem(response: httpx.Response, ids: list[str]) -> tuple[Any, ...]:
    """What a refusal says, with the ids it names blanked (to compare with a missing id's)."""
    text = response.text
    for value in ids:
        text = text.replace(value, "ID")
    if response.headers.get("content-type", "").startswith("application/"):
        body = response.json()
        return response.status_code, body.get("title"), body.get("field")
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.S)
    return response.status_code, heading.group(1).strip() if heading else None


def _unchanged(victim: Owner, objects: dict[str, str]) -> list[str]:
    """After the attacker's walk, the victim's objects are as they were."""
    agent = victim.api.get(f"/v1/agents/{objects['agent']}").json()
    finding = victim.api.get(f"/v1/findings/{objects['finding']}").json()
    grants = victim.api.get("/v1/access-requests", params={"agent": objects["agent"]}).json()
    tasks = victim.api.get("/v1/tasks", params={"agent": objects["agent"]}).json()
    change = victim.api.get(f"/v1/changes/{objects['change']}").json()
    seen = {
        "agent": (agent["owner"], agent["state"], agent["charter_version"]),
        "finding": finding["status"],
        "grant": next(g["status"] for g in grants if g["id"] == objects["grant"]),
        "task": next(t["status"] for t in tasks if t["id"] == objects["task"]),
        "change": change["status"],
    }
    wanted = {
        "agent": (VICTIM, "active", 1),
        "finding": "open",
        "grant": "pending",
        "task": "open",
        "change": "pending",
    }
    return [f"the attacker changed {k}: {seen[k]}" for k in wanted if seen[k] != wanted[k]]


def _walk(attacker: Owner, victim: Owner, objects: dict[str, str]) -> list[str]:
    """Every call with the victim's objects, then the victim's own calls as the control."""
    ghosts = dict.fromkeys(objects, GHOST)
    failures: list[str] = []
    for call in CALLS:
        path = _fill(call.path, objects)
        answer = attacker.send(call, path, objects)
        if answer.status_code != call.expect:
            failures.append(f"{call.method} {path}: {answer.status_code}, expected {call.expect}")
            continue
        if call.expect == 404:  # the same answer as for an id that does not exist
            ghost = attacker.send(call, _fill(call.path, ghosts), ghosts)
            ids = [*objects.values(), GHOST]
            if _problem(ghost, ids) != _problem(answer, ids):
                failures.append(
                    f"{call.method} {path}: {_problem(answer, ids)} differs from a "
                    f"missing id's {_problem(ghost, ids)}"
                )
    failures += _unchanged(victim, objects)
    for call in CALLS:  # the walk's ids are real: their owner is not told 404
        if call.control and call.expect == 404:
            path = _fill(call.path, objects)
            answer = victim.send(call, path, objects)
            if answer.status_code == 404 or answer.status_code >= 500:
                failures.append(f"{call.method} {path} as its owner: {answer.status_code}")
    return failures


def _listings(attacker: Owner, objects: dict[str, str]) -> list[str]:
    """Every listing as the attacker: none names the victim's objects."""
    kinds = ("agent", "finding", "campaign", "grant", "rotation", "task", "change", "approval")
    markers = [objects[k] for k in kinds]
    failures = []
    for (method, _route), path in LISTINGS.items():
        if method == "POST":
            answer = attacker.api.post(path, json={"scope": "all"})
        elif path.startswith("/v1"):
            answer = attacker.api.get(path)
        else:
            answer = attacker.console.get(path)
        if answer.status_code >= 400:
            failures.append(f"{method} {path}: {answer.status_code}")
            continue
        named = [m for m in markers if m in answer.text]
        if named:
            failures.append(f"{method} {path} names another owner's {named}")
    plan = attacker.api.post("/v1/reviews?plan=true", json={"scope": "all"}).json()
    reviewers = {i["reviewer"] for i in plan.get("items", [])}
    if reviewers != {ATTACKER}:
        failures.append(f"an owner's review plan of 'all' has the reviewers {reviewers}")
    return failures


def _refusals(attacker: Owner, objects: dict[str, str], routes: list[tuple[str, str]]) -> list[str]:
    """Every /v1 route owners may not use at all answers them 403."""
    refused = []
    for method, path in routes:
        if zone_of(path) != Zone.API or _owner_reachable(method, path):
            continue
        concrete = re.sub(r"\{[^}]+\}", objects["agent"], path)
        answer = attacker.api.request(method, concrete, json={})
        if answer.status_code != 403:
            refused.append(f"{method} {concrete}: {answer.status_code}, expected 403")
    return refused


def test_an_owner_reaches_nothing_of_another_owners(
    server: tuple[LiveServer, dict[str, str]], tmp_path: Path
) -> None:
    """One test (one live server, even when tests are spread over processes): listings
    first, then the refused routes, then the walk that ends with the victim's own calls."""
    live, objects = server
    attacker, victim = _owner(live, ATTACKER), _owner(live, VICTIM)
    failures = _listings(attacker, objects)
    failures += _refusals(attacker, objects, _app_routes(tmp_path))
    failures += _walk(attacker, victim, objects)
    assert not failures, "owner isolation:\n" + "\n".join(failures)
