"""``/map``: the access graph as a picture, filterable by agent, system or risk.

- no filter: the estate's shape — a bounded sample of every agent's reach
  (:mod:`charter.services.console.estate_sample`);
- ``?agent=NAME``: that agent's blast radius — one click on any agent box;
- ``?identity=ID``: what one identity can reach;
- ``?system=ID``: who can reach that system (admins and auditors);
- ``?risk=high|medium``: only what is at least that risky, with its edges.

Owners see only their own agents: the overview is the union of their agents'
blast radii, and another owner's agent is "not found".
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.errors import InvalidInput
from charter.http.deps import services_dep
from charter.services.auth import UserRole
from charter.services.console import queries
from charter.services.console.estate_sample import estate_sample
from charter.services.console.summaries import summaries_of
from charter.services.map.graph import Graph, NodeKind, Risk
from charter.services.owner_reach import OwnerReach
from charter.web.forms import ConsoleRoute, PrincipalDep, require_role
from charter.web.mapview import render_map
from charter.web.templating import may_open, render, svg

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

MAX_OWNER_AGENTS = 25


def at_least(graph: Graph, risk: Risk) -> Graph:
    """The nodes at least as risky as ``risk``, with what leads to them (whose they are)
    and what they reach (the damage), and the edges between."""
    risky = {n.id for n in graph.nodes.values() if n.risk.rank >= risk.rank}
    keep = set(risky)
    for forward in (False, True):
        frontier = set(risky)
        while frontier:
            step = set()
            for edge in graph.edges:
                near, far = (edge.source, edge.target) if forward else (edge.target, edge.source)
                if near in frontier and far not in keep:
                    step.add(far)
            keep |= step
            frontier = step
    out = Graph()
    for node_id in keep:
        out.add(graph.nodes[node_id])
    for edge in graph.edges:
        if edge.source in keep and edge.target in keep:
            out.connect(edge)
    return out


def merge(graphs: list[Graph]) -> Graph:
    out = Graph()
    for graph in graphs:
        for node in graph.nodes.values():
            out.add(node)
        for edge in graph.edges:
            out.connect(edge)
    return out


@router.get("/map")
def estate_map(
    request: Request,
    principal: PrincipalDep,
    agent: str = "",
    system: str = "",
    identity: str = "",
    risk: str = "",
    escalation: bool = False,
) -> Response:
    services = services_dep(request)
    estate = services.estate.map
    scope = principal.owner_scope
    if risk and risk not in (Risk.HIGH.value, Risk.MEDIUM.value, Risk.LOW.value):
        raise InvalidInput("risk is one of: high, medium, low", field="risk")
    paths: list[dict[str, object]] = []
    if agent:
        OwnerReach(services, principal).agent(agent)
        reach = estate.blast_radius(agent=agent, limit=2000)
        graph, paths, heading = reach.graph, reach.paths, f"Blast radius of {agent}"
    elif escalation:
        require_role(principal, UserRole.ADMIN, UserRole.AUDITOR)
        graph = estate.escalation_graph(limit=300)
        heading = "Privilege escalation: who can become an administrator, and how"
    elif identity:
        require_role(principal, UserRole.ADMIN, UserRole.AUDITOR)
        reach = estate.blast_radius(identity=identity, limit=2000)
        graph, paths, heading = reach.graph, reach.paths, f"What {identity} can reach"
    elif system:
        require_role(principal, UserRole.ADMIN, UserRole.AUDITOR)
        reach = estate.who_can_reach(system, limit=500)
        graph, paths, heading = reach.graph, reach.paths, f"Who can reach {system}"
    elif scope is not None:
        names = queries.agent_names(services.db, owner=scope, limit=MAX_OWNER_AGENTS)
        graph = merge([estate.blast_radius(agent=n, limit=500).graph for n in names])
        heading = "Your agents and what they reach"
    else:
        graph = estate_sample(services.db, now=services.clock.now())
        heading = (
            "The estate: agents, what they act as, and what they reach "
            "(a sample; select an agent for all of it)"
        )
    if risk:
        graph = at_least(graph, Risk(risk))
    picture = render_map(graph, label=heading, link_systems=may_open(principal, "/map?system=x"))
    agents = [n for n in graph.nodes.values() if n.kind == NodeKind.AGENT]
    systems: list[dict[str, object]] = []
    if scope is None:
        summary = summaries_of(request).estate()
        systems = [{"id": s, "grants": n} for s, n in (summary.systems if summary else [])]
    return render(
        request,
        "map.html",
        {
            "heading": heading,
            "svg": svg(picture.svg) if graph.nodes else None,
            "hidden": picture.hidden,
            "paths": paths[:200],
            "agents": sorted(agents, key=lambda n: n.id),
            "systems": systems,
            "filters": {
                "agent": agent,
                "system": system,
                "identity": identity,
                "risk": risk,
                "escalation": escalation,
            },
            "scoped": scope is not None,
            "edges": len(graph.edges),
        },
        title="Map",
    )
