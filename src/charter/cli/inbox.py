"""``charter inbox``: what waits on one person, each item with the command that acts on it."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape

from charter.cli.runtime import cli_errors, console, emit_json, get_services
from charter.cli.tables import listing
from charter.errors import InvalidInput

SECTION_TITLES = {
    "approval": "to decide",
    "review": "review due",
    "task": "task",
    "finding": "finding",
    "notice": "notice",
}


def inbox(
    person: Annotated[
        str | None,
        typer.Option("--person", help="whose inbox (default: CHARTER_ACTOR, an e-mail)"),
    ] = None,
    notices: Annotated[int, typer.Option(min=0, max=500, help="how many notices")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """A person's inbox: approvals they may decide, reviews due, tasks, findings, notices.

    Example: charter inbox --person ada@acme.example
    """
    with cli_errors():
        who = person or os.environ.get("CHARTER_ACTOR", "")
        if not who:
            raise InvalidInput("say whose inbox: --person EMAIL", field="person")
        if "@" not in who:
            raise InvalidInput(f"{who!r} is not an e-mail address", field="person")
        items = get_services().governance.inbox.for_person(who, notices=notices)
    if json_out:
        emit_json([i.to_dict() for i in items])
        return
    table = listing("what", "item", "agent", "action", title=f"Inbox of {who} ({len(items)})")
    for item in items:
        detail = f"\n[dim]{escape(item.detail[:300])}[/]" if item.detail else ""
        table.add_row(
            SECTION_TITLES[item.section],
            f"[bold]{escape(item.title)}[/]{detail}",
            escape(item.agent or "-"),
            f"{escape(item.action)}\n[dim]console: {escape(item.link)}[/]",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("inbox")(inbox)
