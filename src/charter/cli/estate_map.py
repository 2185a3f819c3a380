"""``charter map``: what an agent or identity can reach, who can reach a system, which
agents share secrets, and who can become an administrator (escalation paths).

Parse, call ``Services.estate.map``, format (tables, JSON, GraphML, SVG).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from charter.cli.runtime import cli_errors, console, emit_json, err_console, fail, get_services
from charter.cli.tables import listing, numeric
from charter.services.map import Reach, render_graphml, render_svg

RISK_STYLE = {"high": "bold red", "medium": "yellow", "low": "green", "none": "blue"}


def safe_markup(markup: str) -> Text:
    """Rich text from markup we wrote, with dynamic parts escaped: no emoji codes.

    ARNs contain ``:secret:`` and other words Rich would turn into emoji.
    """
    return Text.from_markup(markup, emoji=False)


def esc(value: object) -> str:
    """A dynamic value, safe inside our markup."""
    return escape(str(value))


def _write(path: Path, text: str, what: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}") from exc
    err_console.print(Text(f"wrote {what} to {path}"))


def _print_reach(reach: Reach, title: str) -> None:
    tree = Tree(safe_markup(f"[bold]{esc(title)}[/]"))
    graph = reach.graph
    by_through: dict[str, list[dict[str, Any]]] = {}
    for path in reach.paths:
        by_through.setdefault(str(path.get("through") or path.get("subject")), []).append(path)
    for subject, paths in by_through.items():
        node = graph.nodes.get(subject)
        risk = node.risk.value if node else "none"
        label = (
            f"[{RISK_STYLE[risk]}]{esc(node.label if node else subject)}[/] [dim]{esc(subject)}[/]"
        )
        if node and node.reasons:
            label += f"  [dim]({esc('; '.join(node.reasons[:2]))})[/]"
        branch = tree.add(safe_markup(label))
        for path in paths[:12]:
            perms = path["permissions"]
            shown = ", ".join(perms[:4]) + (f" (+{len(perms) - 4})" if len(perms) > 4 else "")
            admin = " [bold red]ADMIN[/]" if path.get("admin") else ""
            branch.add(
                safe_markup(
                    f"{esc(path.get('system', ''))} [cyan]{esc(path['resource'])}[/]: "
                    f"{esc(shown)}{admin}"
                    f"\n[dim]why: {esc(path['reason'])}[/]"
                )
            )
        if len(paths) > 12:
            branch.add(f"[dim]… {len(paths) - 12} more grants[/]")
    console.print(tree)
    if reach.truncated:
        console.print("[yellow]the answer was truncated; use --json with a narrower query[/]")


def _escalation(estate: Any, account: str | None, *, json_out: bool, svg: Path | None) -> None:
    found, truncated = estate.escalation_paths(account=account)
    if svg:
        title = "Privilege escalation paths"
        _write(
            svg, render_svg(estate.escalation_graph(account=account), title=title), "the picture"
        )
    if json_out:
        emit_json({"paths": found, "truncated": truncated})
        return
    table = listing(
        "identity",
        "becomes",
        numeric("steps"),
        "how",
        title=f"Privilege escalation paths ({len(found)}{'+' if truncated else ''})",
    )
    for path in found:
        steps = path["steps"]
        how = "\n".join(f"{i}. {s.get('reason')}" for i, s in enumerate(steps, 1))
        style = "yellow" if path["conditional"] else "bold red"
        table.add_row(
            Text(
                f"{path['kind'].replace('cloud_', '')} {path['name']}"
                + (f" (agent {path['agent']})" if path["agent"] else "")
            ),
            Text(str(path["summary"]).split(" -> ", 1)[-1], style=style),
            str(len(steps)),
            Text(how),
        )
    console.print(table)
    if not found:
        console.print(
            "[dim]no identity can become an administrator (ingest AWS with charter discover aws)[/]"
        )


def map_command(
    agent: Annotated[str | None, typer.Option(help="blast radius of this agent")] = None,
    identity: Annotated[str | None, typer.Option(help="blast radius of this identity id")] = None,
    system: Annotated[
        str | None, typer.Option(help="who can reach this system (e.g. aws:123456789012)")
    ] = None,
    resource: Annotated[
        str | None, typer.Option(help="with --system: only grants covering this resource")
    ] = None,
    shared: Annotated[
        bool, typer.Option("--shared", help="secrets present in more than one place")
    ] = False,
    systems: Annotated[
        bool, typer.Option("--systems", help="list the systems in the estate")
    ] = False,
    escalation: Annotated[
        bool,
        typer.Option("--escalation", help="identities that can become an administrator, and how"),
    ] = False,
    account: Annotated[
        str | None, typer.Option(help="with --escalation: only this cloud account")
    ] = None,
    depth: Annotated[int, typer.Option(min=1, max=8, help="hops to follow (assumed roles)")] = 4,
    json_out: Annotated[bool, typer.Option("--json", help="print the graph as JSON")] = False,
    graphml: Annotated[Path | None, typer.Option(help="write the graph as GraphML")] = None,
    svg: Annotated[Path | None, typer.Option(help="draw the graph as an SVG picture")] = None,
) -> None:
    """What an agent or identity can reach, who can reach a system, which agents share secrets.

    Example: charter map --agent support-summarizer
    Example: charter map --svg map.svg
    Example: charter map --escalation
    """
    estate = get_services().estate.map
    if escalation:
        with cli_errors():
            _escalation(estate, account, json_out=json_out, svg=svg)
        return
    with cli_errors():
        if systems:
            rows = estate.systems()
            if json_out:
                emit_json(rows)
                return
            table = listing("id", "kind", "name", numeric("grants"), title="Systems")
            for row in rows:
                table.add_row(
                    Text(row["id"]), Text(row["kind"]), Text(row["name"]), str(row["grants"])
                )
            console.print(table)
            return
        if shared:
            found = estate.shared_credentials()
            if json_out:
                emit_json(found)
                return
            table = listing(
                "secret",
                numeric("copies"),
                "agents",
                "where",
                title=f"Secrets in more than one place ({len(found)})",
            )
            for item in found:
                places = "\n".join(
                    f"{p['source']}: {p['location'] or p['id']}" for p in item["places"]
                )
                agents = ", ".join(item["agents"]) or "-"
                style = "bold red" if item["shared_by_agents"] else ""
                table.add_row(
                    Text(item["places"][0]["preview"]),
                    str(item["copies"]),
                    Text(agents, style=style),
                    Text(places),
                )
            console.print(table)
            return
        reach: Reach | None = None
        if agent or identity:
            reach = estate.blast_radius(agent=agent, identity=identity, depth=depth)
            graph = reach.graph
            title = f"Blast radius of {'agent ' + agent if agent else identity}"
        elif system:
            reach = estate.who_can_reach(system, resource=resource)
            graph = reach.graph
            title = f"Who can reach {system}" + (f" {resource}" if resource else "")
        else:
            graph = estate.overview()
            title = "Agents and what they reach"
    if svg:
        _write(svg, render_svg(graph, title=title), "the picture")
    if graphml:
        _write(graphml, render_graphml(graph), "GraphML")
    if json_out:
        emit_json(reach.to_json() if reach else graph.to_json())
        return
    if reach is not None:
        _print_reach(reach, title)
        return
    table = listing("agent", "risk", numeric("identities"), "reaches", title=title)
    for node in graph.nodes.values():
        if node.kind.value != "agent":
            continue
        targets = {e.target for e in graph.edges if e.source == node.id}
        targets |= {
            e.source for e in graph.edges if e.kind.value == "authenticates" and e.target in targets
        }
        reached = sorted(
            {e.target for e in graph.edges if e.source in targets and e.kind.value == "grant"}
        )
        acts_as = sum(
            1 for t in targets if t in graph.nodes and graph.nodes[t].kind.value == "identity"
        )
        name = (
            safe_markup(f"[magenta]{esc(node.id)}[/] (shadow)")
            if node.detail.get("shadow")
            else Text(node.id)
        )
        table.add_row(
            name,
            safe_markup(f"[{RISK_STYLE[node.risk.value]}]{node.risk.value}[/]"),
            str(acts_as),
            Text(", ".join(reached)),
        )
    console.print(table)
    if svg is None:
        console.print(
            "[dim]draw it: charter map --svg map.svg · one agent: charter map --agent NAME[/]"
        )
