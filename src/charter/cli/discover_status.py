"""``charter discover status`` and ``charter discover pull``: scheduled discovery's sources.

The sources are the governance policy's ``discovery`` section; the worker pulls them
when due (``charter worker``). ``status`` shows each one's health; ``pull`` pulls one
now, under the same lease the worker takes. The services are imported when a command
runs, as in :mod:`charter.cli.discover_fs`, so ``charter discover`` stays quick to load.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape

from charter.cli.conventions import JSON_HELP
from charter.cli.tables import listing, numeric

_HEALTH = {"ok": "green", "retrying": "yellow", "failing": "bold red", "pending": "dim"}


def register(app: typer.Typer) -> None:
    """Mount ``status`` and ``pull`` on ``charter discover``."""
    app.command("status")(status)
    app.command("pull")(pull)


def _when(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment is not None else "-"


def status(json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """Each scheduled discovery source's health: last success, last error, records, next run.

    Example: charter discover status
    """
    from charter.cli.runtime import cli_errors, console, emit_json, get_services

    with cli_errors():
        sources = get_services().governance.discovery.status()
    if json_out:
        emit_json([s.summary() for s in sources])
        return
    table = listing(
        "source",
        "pulls",
        "health",
        "last success",
        "last error",
        numeric("records seen"),
        numeric("changes"),
        "next run",
        title=f"Scheduled discovery ({len(sources)} source{'' if len(sources) == 1 else 's'})",
    )
    for row in sources:
        error = "-"
        if row.last_error:
            error = f"{_when(row.last_error_at)}: {escape(row.last_error[:200])}"
        failures = f" ({row.consecutive_failures} in a row)" if row.consecutive_failures else ""
        table.add_row(
            escape(row.source.name),
            escape(row.source.describe),
            f"[{_HEALTH[row.health]}]{row.health}[/]{failures}",
            _when(row.last_success_at),
            error,
            str(row.records_seen),
            str(row.changes),
            _when(row.next_run_at) if row.runs else "next worker pass",
        )
    console.print(table)
    if not sources:
        console.print("[dim]no sources: add a 'discovery' section to the governance policy[/]")


def pull(
    name: Annotated[str, typer.Argument(help="the source's name in the policy")],
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Pull one scheduled source now, due or not (as the worker would).

    Example: charter discover pull exports
    """
    from charter.cli.runtime import actor, cli_errors, console, emit_json, get_services

    services = get_services()
    governance = services.governance
    with cli_errors():
        lease = int(governance.policy().worker.lease)
        outcome = governance.discovery.pull(name, f"cli:{actor()}", actor=actor(), ttl=lease)
    if outcome is None:
        console.print(f"{name} is being pulled by a worker right now")
        raise typer.Exit(1)
    if json_out:
        emit_json({"name": name, **outcome.summary()})
    elif outcome.error:
        console.print(f"[bold red]failed:[/] {escape(outcome.error)}")
    else:
        console.print(
            f"pulled {escape(name)}: {outcome.records} records seen, {outcome.changes} changes"
            + (f", {outcome.ingested} export file(s) read" if outcome.ingested else "")
        )
    if outcome.error:
        raise typer.Exit(1)
