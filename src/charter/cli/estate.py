"""``charter discover <source>``, ``charter discover all``, ``charter shadow …``; ``charter
map`` lives in :mod:`charter.cli.estate_map`.

Parse, call ``Services.estate`` / ``Services.reconcile``, format. ``register(app)``
adds one ``discover`` command per registered connector onto the ``discover``
sub-app, and the ``shadow`` and ``map`` commands onto the root app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.text import Text

from charter.cli import discover
from charter.cli.conventions import CharterTyper
from charter.cli.estate_map import esc, map_command, safe_markup
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
from charter.cli.tables import listing
from charter.cli.whatif import drafted
from charter.connectors.registry import CONNECTORS
from charter.domain.charter_parsing import MAX_CHARTER_BYTES, parse_charter_text
from charter.domain.drafting import DEFAULT_EXPIRY_DAYS
from charter.errors import InvalidInput
from charter.services.estate_ingest import IngestEvent, IngestReport
from charter.services.whatif import DEFAULT_DAYS

shadow_app = CharterTyper(help="Shadow AI: agents discovery found that nobody registered.")


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
        err_console.print(
            safe_markup(f"[bold red]error:[/] {esc(source)}: {esc(message)}"), soft_wrap=True
        )


#: How many skipped records the table names (``--json`` carries them all).
SHOWN_WARNINGS = 20


def _print_skipped(report: IngestReport) -> None:
    warnings = report.warnings
    if report.skipped:
        err_console.print(
            safe_markup(
                f"[yellow]skipped {report.skipped} record(s)[/] that could not be read; "
                "the rest was ingested"
            ),
            soft_wrap=True,
        )
    for warning in warnings[:SHOWN_WARNINGS]:
        err_console.print(safe_markup(f"[yellow]warning:[/] {esc(warning)}"), soft_wrap=True)
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
            safe_markup(f"[magenta]{esc(agent.name)}[/]"),
            Text(summary["suggested_owner"])
            if summary["suggested_owner"]
            else safe_markup("[red]none[/]"),
            Text(identities),
            Text(evidence),
        )
    console.print(table)
    console.print("[dim]adopt one with: charter shadow adopt NAME --charter FILE[/]")


@shadow_app.command("adopt")
def shadow_adopt(
    name: Annotated[str, typer.Argument(help="the shadow agent's name")],
    charter: Annotated[
        Path | None, typer.Option("--charter", help="the charter to register it under")
    ] = None,
    draft: Annotated[
        bool, typer.Option("--draft", help="draft it from observed behaviour ('charter draft')")
    ] = False,
    owner: Annotated[str | None, typer.Option("--owner", help="with --draft: the owner")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Register a shadow agent under a charter, keeping its history and identities.

    With --draft, the charter is drafted from what it was seen doing, its what-if is
    shown, and it is adopted under that draft.

    Example: charter shadow adopt github-release-bot --charter release-bot.yaml
    """
    services = get_services()
    with cli_errors():
        if draft == (charter is not None):
            raise InvalidInput("give either --charter FILE or --draft", field="charter")
        if charter is not None:
            spec = parse_charter_text(
                read_input_file(charter, limit=MAX_CHARTER_BYTES), source=str(charter)
            )
        else:
            spec = drafted(
                name, days=DEFAULT_DAYS, owner=owner, expires_in=DEFAULT_EXPIRY_DAYS
            ).spec
        adopted = services.estate.shadow.adopt(name, spec, actor=actor())
    for warning in adopted.warnings:
        err_console.print(safe_markup(f"[yellow]warning:[/] {esc(warning)}"))
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
        safe_markup(
            f"adopted [bold]{esc(adopted.name)}[/]{esc(renamed)}: owner {esc(adopted.owner)}, "
            f"state {adopted.state}, charter v{adopted.charter_version}, "
            f"{len(adopted.identities)} identities kept"
        )
    )


# -- map ----------------------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add the estate commands: ``discover <source>``/``discover all``, ``shadow``, ``map``."""
    for source in CONNECTORS:
        _discover_command(source)
    discover.app.command("all")(discover_all)
    app.add_typer(shadow_app, name="shadow")
    app.command("map")(map_command)
