"""``charter people …``: load and list the directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from charter.cli.conventions import CharterTyper
from charter.cli.runtime import (
    actor,
    cli_errors,
    console,
    emit_json,
    err_console,
    get_services,
    read_input_file,
)
from charter.cli.tables import listing
from charter.domain.enums import PersonStatus
from charter.domain.paging import MAX_OFFSET
from charter.services.people import MAX_DIRECTORY_BYTES, read_directory

app = CharterTyper(help="The directory of people who own and delegate to agents.")


@app.command("import")
def import_people(
    file: Annotated[Path, typer.Argument(help="JSON, SCIM 2.0 ListResponse JSON, or CSV")],
    allow_unknown: Annotated[
        bool,
        typer.Option(
            "--allow-unknown", help="import records with unknown fields, leaving those out"
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Import (upsert) people: email, name, status, manager, groups, external_ids.

    Example: charter people import examples/people.json
    """
    with cli_errors():
        read = read_directory(
            read_input_file(file, limit=MAX_DIRECTORY_BYTES),
            filename=file.name,
            allow_unknown=allow_unknown,
        )
        counts = get_services().people.import_records(read.records, actor=actor())
    warning = read.warning(file.name)
    if warning:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if json_out:
        emit_json({**counts, "warnings": [warning] if warning else []})
        return
    console.print(
        f"imported {len(read.records)} people from {file}: {counts['created']} new, "
        f"{counts['changed']} changed, {counts['unchanged']} unchanged"
    )


@app.command("list")
def list_people(
    status: Annotated[PersonStatus | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option(min=0, max=MAX_OFFSET)] = 0,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List people in the directory.

    Example: charter people list --status departed
    """
    with cli_errors():
        people, total = get_services().people.list(status=status, limit=limit, offset=offset)
    if json_out:
        emit_json(
            {
                "items": [
                    {
                        "email": p.email,
                        "name": p.name,
                        "status": p.status.value,
                        "manager": p.manager,
                        "groups": list(p.groups),
                        "external_ids": list(p.external_ids),
                    }
                    for p in people
                ],
                "total": total,
            }
        )
        return
    table = listing("email", "name", "status", "manager", "groups", title=f"People ({total})")
    for person in people:
        status_text = person.status.value if person.is_active else f"[red]{person.status}[/]"
        table.add_row(
            person.email, person.name, status_text, person.manager or "", ", ".join(person.groups)
        )
    console.print(table)
