"""``charter status``: which store commands use, where that came from, and what is in it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from charter.cli.runtime import console, emit_json, store_origin
from charter.config import Settings, default_home
from charter.services.store_status import StoreStatus, store_status
from charter.version import __version__


def status(json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Show the store in use (and why that one), its schema and what it holds; creates nothing.

    Exits 1 when the store does not answer (a script can test it), after saying why.

    Example: charter status --json
    """
    settings = Settings.from_env()
    found = store_status(settings)
    if json_out:
        emit_json({"version": __version__, "default_home": str(default_home()), **found.to_dict()})
    else:
        _print_table(settings, found)
    if found.problem:
        raise typer.Exit(1)


def _print_table(settings: Settings, found: StoreStatus) -> None:
    table = Table(title="Charter store", title_justify="left", show_header=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("", overflow="fold")
    table.add_row("store", escape(found.url))
    if found.path:
        table.add_row("path", escape(found.path))
    table.add_row("chosen by", escape(store_origin(settings)))
    table.add_row("default home", escape(str(default_home())))
    table.add_row("exists", _exists(found.exists, found.problem))
    if found.exists:
        schema = ", ".join(found.revisions) or "(none)"
        state = (
            "[green]up to date[/]"
            if found.up_to_date
            else "[yellow]needs migrating: charter init[/]"
        )
        table.add_row("schema", f"{escape(schema)}  {state}")
        agents = sum(found.agents_by_state.values())
        states = ", ".join(f"{count} {state}" for state, count in found.agents_by_state.items())
        table.add_row("agents", f"{agents}" + (f" ({states})" if states else ""))
        table.add_row("people", str(found.people))
        table.add_row("credentials", str(found.credentials))
        table.add_row("open findings", str(found.open_findings))
    table.add_row("Charter", __version__)
    console.print(table)


def _exists(exists: bool, problem: str | None) -> str:
    if problem:
        return f"[red]no answer:[/] {escape(problem)}"
    if exists:
        return "yes"
    return "[yellow]not yet[/] (the first command that needs it creates it; or charter init)"


def register(app: typer.Typer) -> None:
    app.command("status")(status)
