"""``charter rotation``: credential rotation from the command line — the schedule, the exact
steps for one credential, starting it, and verifying the old secret is gone.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from charter.cli.conventions import CharterTyper
from charter.cli.runtime import actor, cli_errors, console, emit_json, get_services
from charter.cli.tables import listing
from charter.services.governance.rotation import RotationStatus

rotation_app = CharterTyper(
    help="Credential rotation: schedule, exact steps, verification.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@rotation_app.command("list")
def rotation_list(
    status: Annotated[RotationStatus | None, typer.Option()] = None,
    agent: Annotated[str | None, typer.Option()] = None,
    json_out: JsonOpt = False,
) -> None:
    """Scheduled and running rotations.

    Example: charter rotation list --status scheduled
    """
    with cli_errors():
        found = get_services().governance.rotation.list(status=status, agent=agent)
    if json_out:
        emit_json([r.to_dict() for r in found])
        return
    table = listing(
        "id", "status", "due", "agent", "provider", "credential", title=f"Rotations ({len(found)})"
    )
    for r in found:
        table.add_row(
            r.id,
            str(r.status),
            f"{r.due_at:%Y-%m-%d}",
            escape(r.agent or "-"),
            escape(r.provider),
            escape(r.credential),
        )
    console.print(table)


@rotation_app.command("schedule")
def rotation_schedule() -> None:
    """Schedule rotations that are due now (the worker does this on its own).

    Example: charter rotation schedule
    """
    with cli_errors():
        created = get_services().governance.rotation.schedule(actor=actor())
    console.print(
        f"scheduled {len(created)} rotation(s)" + (": " + ", ".join(created) if created else "")
    )


@rotation_app.command("plan")
def rotation_plan(rotation_id: str, json_out: JsonOpt = False) -> None:
    """The exact steps to rotate the credential.

    Example: charter rotation plan rot-5e0c1d2a9f
    """
    with cli_errors():
        r = get_services().governance.rotation.get(rotation_id)
    if json_out:
        emit_json(r.to_dict())
        return
    console.print(
        f"[bold]{r.id}[/]: rotate {r.provider} credential {r.credential} of {r.agent} "
        f"(owner {r.owner}) by {r.due_at:%Y-%m-%d}"
    )
    for number, step in enumerate(r.steps, 1):
        console.print(f"  {number}. {escape(step)}")


@rotation_app.command("start")
def rotation_start(rotation_id: str) -> None:
    """Begin the rotation (files a task with the steps for the owner).

    Example: charter rotation start rot-5e0c1d2a9f
    """
    with cli_errors():
        r = get_services().governance.rotation.start(rotation_id, actor=actor())
    console.print(f"{r.id} is {r.status}: {r.note}")


@rotation_app.command("verify")
def rotation_verify(rotation_id: str, json_out: JsonOpt = False) -> None:
    """Check the old secret is gone and a new one exists (after re-ingesting the source).

    Example: charter rotation verify rot-5e0c1d2a9f
    """
    with cli_errors():
        check = get_services().governance.rotation.verify(rotation_id, actor=actor())
    if json_out:
        emit_json(check.to_dict())
        return
    if check.verified:
        console.print(f"[green]{rotation_id} verified[/]: the old secret is gone")
        return
    for reason in check.reasons:
        console.print(f"[yellow]not yet:[/] {reason}")
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(rotation_app, name="rotation")
