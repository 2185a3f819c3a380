"""``charter audit …``: read the event log and verify its hash chain."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from charter.cli.runtime import cli_errors, console, emit_json, get_services

app = typer.Typer(help="The append-only, hash-chained audit log.")


@app.command("list")
def list_events(
    target: Annotated[str | None, typer.Option(help="only events about this target")] = None,
    actor: Annotated[str | None, typer.Option(help="only events by this actor")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. agent.suspend")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest events first."""
    with cli_errors():
        events = get_services().audit.list(target=target, actor=actor, action=action, limit=limit)
    if json_out:
        emit_json(
            [
                {"seq": e.seq, "time": e.time, "actor": e.actor, "action": e.action,
                 "target_type": e.target_type, "target": e.target, "before": e.before,
                 "after": e.after, "prev_hash": e.prev_hash, "hash": e.hash}
                for e in events
            ]
        )  # fmt: skip
        return
    table = Table(title="Audit events", title_justify="left")
    for column in ("#", "time", "actor", "action", "target", "after"):
        table.add_column(column, overflow="fold" if column == "after" else "ellipsis")
    for event in events:
        table.add_row(str(event.seq), event.time[:19].replace("T", " "), event.actor,
                      event.action, event.target, str(event.after)[:70])  # fmt: skip
    console.print(table)


@app.command()
def verify(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Recompute the hash chain; exit 1 and name the first broken link if any."""
    with cli_errors():
        report = get_services().audit.verify()
    if json_out:
        emit_json(
            {"ok": report.ok, "events": report.events,
             "first_broken_seq": report.first_broken_seq, "problem": report.problem}
        )  # fmt: skip
    elif report.ok:
        console.print(f"[green]audit chain intact[/]: {report.events} events verified")
    else:
        console.print(f"[bold red]audit chain broken[/] at event {report.first_broken_seq}: "
                      f"{report.problem}")  # fmt: skip
    if not report.ok:
        raise typer.Exit(1)
