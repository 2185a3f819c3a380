"""``charter discover <source>``, ``charter discover all``, ``charter shadow …`` and
``charter map``.

Parse, call ``Services.estate`` / ``Services.reconcile``, format. ``register(app)``
adds one ``discover`` command per registered connector onto the ``discover``
sub-app, and the ``shadow`` and ``map`` commands onto the root app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.text import Text
from rich.tree import Tree

from charter.cli import discover
from charter.cli.conventions import CharterTyper
from charter.cli.runtime import (
    actor,
    cli_errors,
    console,
    emit_json,
    err_console,
    fail,
    get_services,
    read_input_file,
)
from charter.cli.tables import listing, numeric
from charter.connectors.registry import CONNECTORS
from charter.domain.charter_parsing import MAX_CHARTER_BYTES, parse_charter_text
from charter.services.estate_ingest import IngestEvent, IngestReport
from charter.services.map import Reach, render_graphml, render_svg


def _t(markup: str) -> Text:
    """Rich text from markup we wrote, with dynamic parts escaped: no emoji codes.

    ARNs contain ``:secret:`` and other words Rich would turn into emoji.
    """
    return Text.from_markup(markup, emoji=False)


def _e(value: object) -> str:
    """A dynamic value, safe inside our markup."""
    return escape(str(value))


shadow_app = CharterTyper(help="Shadow AI: agents discovery found that nobody registered.")
RISK_STYLE = {"high": "bold red", "medium": "yellow", "low": "green", "none": "blue"}


# -- discover ---------------------------------------------------------------------------------
def _counts(kind: Any) -> str:
    parts = [
        f"+{kind.created}" if kind.created else "",
        f"~{kind.updated}" if kind.updated else "",
        f"-{kind.gone}" if kind.gone else "",
    ]
    changed = " ".join(p for p in parts if p)
    return f"{kind.seen}" + (f" ({changed})" if changed else "")


def _print_report(report: IngestReport) -> None:
    table = listing(
        "source",
        "account",
        "identities",
        "credentials",
        "grants",
        "new shadow agents",
        title="Ingested",
    )
    for result in report.results:
        table.add_row(
            Text(result.source),
            Text(result.account),
            _counts(result.identities),
            _counts(result.credentials),
            _counts(result.grants),
            Text(", ".join(result.shadow_agents) or "-"),
        )
    console.print(table)
    console.print(
        "[dim]counts: seen (+new ~changed -gone); an unchanged re-ingest writes no events[/]"
    )
    _print_skipped(report)
    for source, message in report.failures:
        err_console.print(_t(f"[bold red]error:[/] {_e(source)}: {_e(message)}"), soft_wrap=True)


#: How many skipped records the table names (``--json`` carries them all).
SHOWN_WARNINGS = 20


def _print_skipped(report: IngestReport) -> None:
    warnings = report.warnings
    if report.skipped:
        err_console.print(
            _t(
                f"[yellow]skipped {report.skipped} record(s)[/] that could not be read; "
                "the rest was ingested"
            ),
            soft_wrap=True,
        )
    for warning in warnings[:SHOWN_WARNINGS]:
        err_console.print(_t(f"[yellow]warning:[/] {_e(warning)}"), soft_wrap=True)
    if len(warnings) > SHOWN_WARNINGS:
        err_console.print(f"… and {len(warnings) - SHOWN_WARNINGS} more warnings (see --json)")


def _discover_command(source: str) -> None:
    connector = CONNECTORS[source]
    formats = "; ".join(f.title for f in connector.formats)

    def command(
        paths: Annotated[
            list[Path] | None, typer.Argument(help="export files or directories")
        ] = None,
        live: Annotated[str | None, typer.Option(help="read the live API instead")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        if not paths and not live:
            raise fail(
                f"give export files or directories (or --live); {connector.title} reads: {formats}"
            )
        services = get_services()
        with cli_errors():
            if live:
                report = services.estate.ingest.ingest_live(source, live, actor=actor())
            else:
                report = services.estate.ingest.ingest_files(source, paths or [], actor=actor())
        if json_out:
            emit_json(report.summary())
        else:
            _print_report(report)

    live_help = (
        f"read the live API instead; TARGET is {connector.live_api.target} "
        f"(token in ${connector.live_api.credential_env})"
        if connector.live_api
        else f"read the live API instead; TARGET is {connector.live_sdk.target}"
        if connector.live_sdk
        else "not available: this source has no live API"
    )
    # the annotations are strings (PEP 563); give this one its source-specific help as an object
    command.__annotations__["live"] = Annotated[str | None, typer.Option(help=live_help)]
    command.__doc__ = (
        f"Ingest {connector.title} exports ({formats}).\n\n"
        f"Example: charter discover {source} examples/estate/{source}"
    )
    discover.app.command(source)(command)


def discover_all(
    directory: Annotated[Path, typer.Argument(help="a directory tree holding exports of any kind")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Find the exports of every kind under DIR and ingest each, source by source.

    Example: charter discover all examples/estate
    """
    services = get_services()
    with cli_errors():
        plan = services.estate.ingest.plan_tree(directory)
    total = plan.file_count
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        console=err_console,
        transient=json_out,
        disable=json_out,
    ) as progress:
        task = progress.add_task("finding exports", total=total or 1)

        def on_event(event: IngestEvent) -> None:
            if event.kind == "source":
                progress.update(task, description=f"{event.source} ({event.files} files)")
            elif event.kind in ("done", "failed"):
                progress.advance(task, event.files)

        with cli_errors():
            report = services.estate.ingest.ingest_plan(plan, actor=actor(), progress=on_event)
        progress.update(task, description="done")
    if json_out:
        emit_json(report.summary())
    else:
        _print_report(report)
        if report.ignored:
            console.print(
                f"[dim]{len(report.ignored)} file(s) were not exports Charter recognises "
                "(ignored)[/]"
            )
    if not report.ok:
        raise typer.Exit(2)


# -- shadow -----------------------------------------------------------------------------------
@shadow_app.command("list")
def shadow_list(
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """AI-related identities no registered agent claims, grouped as discovered agents.

    Example: charter shadow list
    """
    with cli_errors():
        agents = get_services().estate.shadow.list()
    if json_out:
        emit_json([a.summary() for a in agents])
        return
    table = listing(
        "agent",
        "suggested owner",
        "identities",
        "why it looks like AI",
        title=f"Shadow agents ({len(agents)})",
    )
    for agent in agents:
        summary = agent.summary()
        identities = "\n".join(f"{i['source']}: {i['name']}" for i in summary["identities"][:4])
        evidence = next(
            (e for i in agent.identities for e in i.evidence if not e.startswith("agent ")), ""
        )
        table.add_row(
            _t(f"[magenta]{_e(agent.name)}[/]"),
            Text(summary["suggested_owner"]) if summary["suggested_owner"] else _t("[red]none[/]"),
            Text(identities),
            Text(evidence),
        )
    console.print(table)
    console.print("[dim]adopt one with: charter shadow adopt NAME --charter FILE[/]")


@shadow_app.command("adopt")
def shadow_adopt(
    name: Annotated[str, typer.Argument(help="the shadow agent's name")],
    charter: Annotated[Path, typer.Option("--charter", help="the charter to register it under")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Register a shadow agent under a charter, keeping its history and identities.

    Example: charter shadow adopt github-release-bot --charter release-bot.yaml
    """
    services = get_services()
    with cli_errors():
        spec = parse_charter_text(
            read_input_file(charter, limit=MAX_CHARTER_BYTES), source=str(charter)
        )
        adopted = services.estate.shadow.adopt(name, spec, actor=actor())
    for warning in adopted.warnings:
        err_console.print(_t(f"[yellow]warning:[/] {_e(warning)}"))
    if json_out:
        emit_json(
            {
                "name": adopted.name,
                "previous_name": adopted.previous_name,
                "owner": adopted.owner,
                "state": adopted.state.value,
                "charter_version": adopted.charter_version,
                "identities": list(adopted.identities),
                "warnings": list(adopted.warnings),
            }
        )
        return
    renamed = f" (was {adopted.previous_name})" if adopted.previous_name != adopted.name else ""
    console.print(
        _t(
            f"adopted [bold]{_e(adopted.name)}[/]{_e(renamed)}: owner {_e(adopted.owner)}, "
            f"state {adopted.state}, charter v{adopted.charter_version}, "
            f"{len(adopted.identities)} identities kept"
        )
    )


# -- map ----------------------------------------------------------------------------------------
def _write(path: Path, text: str, what: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}") from exc
    err_console.print(Text(f"wrote {what} to {path}"))


def _print_reach(reach: Reach, title: str) -> None:
    tree = Tree(_t(f"[bold]{_e(title)}[/]"))
    graph = reach.graph
    by_through: dict[str, list[dict[str, Any]]] = {}
    for path in reach.paths:
        by_through.setdefault(str(path.get("through") or path.get("subject")), []).append(path)
    for subject, paths in by_through.items():
        node = graph.nodes.get(subject)
        risk = node.risk.value if node else "none"
        label = (
            f"[{RISK_STYLE[risk]}]{_e(node.label if node else subject)}[/] [dim]{_e(subject)}[/]"
        )
        if node and node.reasons:
            label += f"  [dim]({_e('; '.join(node.reasons[:2]))})[/]"
        branch = tree.add(_t(label))
        for path in paths[:12]:
            perms = path["permissions"]
            shown = ", ".join(perms[:4]) + (f" (+{len(perms) - 4})" if len(perms) > 4 else "")
            admin = " [bold red]ADMIN[/]" if path.get("admin") else ""
            branch.add(
                _t(
                    f"{_e(path.get('system', ''))} [cyan]{_e(path['resource'])}[/]: "
                    f"{_e(shown)}{admin}"
                    f"\n[dim]why: {_e(path['reason'])}[/]"
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
            _t(f"[magenta]{_e(node.id)}[/] (shadow)")
            if node.detail.get("shadow")
            else Text(node.id)
        )
        table.add_row(
            name,
            _t(f"[{RISK_STYLE[node.risk.value]}]{node.risk.value}[/]"),
            str(acts_as),
            Text(", ".join(reached)),
        )
    console.print(table)
    if svg is None:
        console.print(
            "[dim]draw it: charter map --svg map.svg · one agent: charter map --agent NAME[/]"
        )


def register(app: typer.Typer) -> None:
    """Add the estate commands: ``discover <source>``/``discover all``, ``shadow``, ``map``."""
    for source in CONNECTORS:
        _discover_command(source)
    discover.app.command("all")(discover_all)
    app.add_typer(shadow_app, name="shadow")
    app.command("map")(map_command)
