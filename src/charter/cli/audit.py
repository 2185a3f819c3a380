"""``charter audit …``: read the event log, verify its keyed chain, write checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from charter.cli.conventions import CharterTyper
from charter.cli.runtime import cli_errors, console, emit_json, fail, get_services
from charter.cli.tables import listing, numeric
from charter.domain.audit_chain import ChainBroken, ChainReport
from charter.domain.audit_change import change_lines
from charter.errors import InvalidInput

app = CharterTyper(help="The append-only, hash-chained audit log.")


@app.command("list")
def list_events(
    target: Annotated[str | None, typer.Option(help="only events about this target")] = None,
    actor: Annotated[str | None, typer.Option(help="only events by this actor")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. agent.suspend")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest events first.

    Example: charter audit list --target support-summarizer --limit 20
    """
    with cli_errors():
        events = get_services().audit.list(target=target, actor=actor, action=action, limit=limit)
    if json_out:
        emit_json(
            [
                {
                    "seq": e.seq,
                    "time": e.time,
                    "actor": e.actor,
                    "action": e.action,
                    "target_type": e.target_type,
                    "target": e.target,
                    "before": e.before,
                    "after": e.after,
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in events
            ]
        )
        return
    table = listing(
        numeric("#"), "time", "actor", "action", "target", "change", title="Audit events"
    )
    for event in events:
        table.add_row(
            str(event.seq),
            event.time[:19].replace("T", " "),
            escape(event.actor),
            event.action,
            escape(event.target),
            escape("\n".join(change_lines(event.before, event.after))),
        )
    console.print(table)


def _chain_text(report: ChainReport) -> str:
    if report.keyed_from is None:
        keyed = f"all {report.events} events are legacy (unkeyed SHA-256 links)"
    elif report.keyed_from > 1:
        keyed = f"events 1–{report.keyed_from - 1} legacy (unkeyed), keyed from {report.keyed_from}"
    else:
        keyed = "every event keyed"
    if report.links_checked:
        links = f"links checked with chain key {report.key_id}"
    else:
        links = "links NOT checked: no master key here (set CHARTER_MASTER_KEY)"
    text = f"{report.events} events verified; {keyed}; {links}"
    if report.checkpoints:
        text += (
            f"; {report.checkpoints} checkpoints agree (newest at event {report.newest_checkpoint})"
        )
    return text


@app.command(
    help="Recompute the chain (and check it against checkpoints): "
    "exit 0 intact, 1 tampered, 2 bad input.\n\n"
    "Example: charter audit verify --checkpoints audit-checkpoints"
)
def verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="a directory of signed checkpoints to hold the store against"),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(help="the checkpoint public key (PEM) to trust, e.g. an auditor's copy"),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The audit chain's check; its help is the command's (it reads as one line)."""
    with cli_errors():
        if public_key and not checkpoints:
            raise InvalidInput(
                "it checks checkpoints: give --checkpoints DIR too", field="public-key"
            )
        audit = get_services().audit
        found = audit.read_checkpoints(checkpoints, public_key) if checkpoints else None
        report = audit.verify(found)
    if json_out:
        emit_json(report.as_dict())
    elif report.ok:
        console.print(f"[green]audit chain intact[/]: {escape(_chain_text(report))}")
    else:
        where = f" at event {report.first_broken_seq}" if report.first_broken_seq else ""
        console.print(f"[bold red]audit chain broken[/]{where}: {escape(report.problem or '')}")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def checkpoint(
    public_key: Annotated[
        bool, typer.Option("--public-key", help="print the checkpoint public key (PEM) and stop")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Sign the head and write it out of the database; exit 1 if the chain or the sink fails.

    Example: charter audit checkpoint
    Example: charter audit checkpoint --public-key
    """
    with cli_errors():
        audit = get_services().audit
        if public_key:
            typer.echo(audit.keyring.keys().checkpoint.public().pem(), nl=False)
            return
        try:
            written = audit.checkpoint()
        except ChainBroken as exc:
            raise fail(str(exc), code=1) from None
    point = written.checkpoint
    if json_out:
        shown = {"signature": point.signature, "path": str(written.path)}
        emit_json({**point.fields(), **shown, "sink_error": written.sink_error})
    else:
        where = escape(str(written.path))
        console.print(f"checkpoint of event {point.sequence} ({point.hash[:16]}…) at {where}")
    if written.sink_error:
        raise fail(written.sink_error, code=1)
