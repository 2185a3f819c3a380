"""``charter changes …``: proposals that widen an agent's access, and their approval.

The CLI speaks for whoever holds the store, so the deciding person is named with
``--by EMAIL`` (or ``CHARTER_ACTOR``) and checked like any approver: named by the
policy's ``approvals`` section, and not the requester.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.syntax import Syntax

from charter.cli.conventions import CharterTyper
from charter.cli.governance_workflows import person
from charter.cli.runtime import actor, cli_errors, console, emit_json, get_services
from charter.cli.tables import listing
from charter.services.changes import Proposal, ProposalStatus

app = CharterTyper(help="Changes that widen an agent's access, waiting for a second person.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@app.command("list")
def list_changes(
    status: Annotated[
        ProposalStatus | None, typer.Option(help="pending (default), approved, rejected, expired")
    ] = ProposalStatus.PENDING,
    agent: Annotated[str | None, typer.Option(help="only this agent's")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Proposed changes, newest first.

    Example: charter changes list --status pending
    """
    with cli_errors():
        found = get_services().governance.changes.list(status=status, agent=agent)
    if json_out:
        emit_json([p.to_dict() for p in found])
        return
    table = listing("id", "kind", "agent", "requested by", "status", "widens")
    for p in found:
        widens = "; ".join(w["message"] for w in p.diff.get("widenings", []))
        row = (p.id, p.kind.value, p.agent, p.requested_by, p.status.value, escape(widens))
        table.add_row(*row)
    console.print(table if found else "no changes")


def _show(proposal: Proposal) -> None:
    console.print(
        f"[bold]{proposal.id}[/] {proposal.kind.value} of [bold]{proposal.agent}[/] "
        f"— {proposal.status.value}; asked by {proposal.requested_by}: {escape(proposal.reason)}"
    )
    approvers = proposal.payload.get("approvers") or []
    if approvers:
        console.print(f"approvers: {', '.join(approvers)} (never the requester)")
    for widening in proposal.diff.get("widenings", []):
        console.print(f"  + {escape(widening['message'])}")
    if proposal.diff.get("text"):
        console.print(Syntax(proposal.diff["text"], "diff"))
    if proposal.decided_by:
        console.print(f"decided by {proposal.decided_by}: {escape(proposal.decision_reason or '')}")


@app.command()
def show(change_id: str, json_out: JsonOpt = False) -> None:
    """One change with its diff.

    Example: charter changes show chg-5e0c1d2a9f
    """
    with cli_errors():
        proposal = get_services().governance.changes.get(change_id)
    if json_out:
        emit_json(proposal.to_dict())
        return
    _show(proposal)


@app.command()
def approve(
    change_id: str,
    by: Annotated[
        str | None, typer.Option(help="the approver's e-mail (not the requester)")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="why (recorded)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Approve a change and apply it.

    Example: charter changes approve chg-5e0c1d2a9f --by ada.osei@acme.example
    """
    with cli_errors():
        proposal = get_services().governance.changes.approve(
            change_id, by=person(by), actor=actor(), reason=reason
        )
    if json_out:
        emit_json(proposal.to_dict())
        return
    console.print(f"{proposal.id}: [bold]{proposal.status.value}[/] by {proposal.decided_by}")


@app.command()
def reject(
    change_id: str,
    reason: Annotated[str, typer.Option(help="why (recorded)")],
    by: Annotated[str | None, typer.Option(help="who rejects (e-mail)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Reject a change (or withdraw your own); nothing is applied.

    Example: charter changes reject chg-5e0c1d2a9f --by ada.osei@acme.example --reason "too wide"
    """
    with cli_errors():
        proposal = get_services().governance.changes.reject(
            change_id, by=person(by), actor=actor(), reason=reason
        )
    if json_out:
        emit_json(proposal.to_dict())
        return
    console.print(f"{proposal.id}: [bold]{proposal.status.value}[/] by {proposal.decided_by}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="changes")
