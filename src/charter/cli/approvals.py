"""``charter approvals …``: calls held for a person's approval, with their arguments.

A charter rule with ``approve: {by: owner|role NAME, ttl: 15m}`` holds each call it
covers until someone approves *that* call (same agent, action, resource and
arguments). The approver is named with ``--by EMAIL`` (or ``CHARTER_ACTOR``) and
checked: the agent's owner or a member of the named role, active, never the agent.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from charter.cli.conventions import CharterTyper
from charter.cli.governance_workflows import person
from charter.cli.runtime import cli_errors, console, emit_json, get_services
from charter.cli.tables import listing
from charter.domain.call_approval import ApprovalStatus, CallApproval

app = CharterTyper(help="Calls held for a person's approval: list, approve, deny.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ByOpt = Annotated[str | None, typer.Option(help="who decides (e-mail; default CHARTER_ACTOR)")]


def _arguments(item: CallApproval, limit: int = 120) -> str:
    text = json.dumps(dict(item.arguments), sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@app.command("list")
def list_approvals(
    status: Annotated[
        ApprovalStatus | None,
        typer.Option(help="pending (default), approved, denied, used, expired"),
    ] = ApprovalStatus.PENDING,
    agent: Annotated[str | None, typer.Option(help="only this agent's")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Access requests for single calls, newest first, with the call's arguments.

    Example: charter approvals list --status pending
    """
    with cli_errors():
        found = get_services().call_approvals.list(status=status, agent=agent)
    if json_out:
        emit_json([item.to_dict() for item in found])
        return
    table = listing("id", "agent", "action", "resource", "arguments", "status", "expires (UTC)")
    for item in found:
        table.add_row(
            item.id,
            item.agent,
            item.action,
            escape(item.resource),
            escape(_arguments(item)),
            item.status.value,
            f"{item.expires_at:%Y-%m-%d %H:%M}",
        )
    console.print(table if found else "no access requests")


def _decided(item: CallApproval, json_out: bool) -> None:
    if json_out:
        emit_json(item.to_dict())
        return
    console.print(
        f"{item.id}: [bold]{item.status.value}[/] by {item.decided_by} — {item.agent} "
        f"{item.action} on {escape(item.resource)} with {escape(_arguments(item))}"
    )
    if item.status == ApprovalStatus.APPROVED:
        console.print(
            f"usable once, by that exact call, until {item.expires_at:%Y-%m-%d %H:%M:%S} UTC"
        )


@app.command()
def approve(approval_id: str, by: ByOpt = None, json_out: JsonOpt = False) -> None:
    """Approve one held call: the agent's next identical call is allowed, once.

    Example: charter approvals approve apr-3f2a9c1b7d0e --by ada.osei@acme.example
    """
    with cli_errors():
        item = get_services().call_approvals.approve(approval_id, approver=person(by))
    _decided(item, json_out)


@app.command()
def deny(approval_id: str, by: ByOpt = None, json_out: JsonOpt = False) -> None:
    """Deny one held call: the same call stays denied for the rule's ttl.

    Example: charter approvals deny apr-3f2a9c1b7d0e --by ada.osei@acme.example
    """
    with cli_errors():
        item = get_services().call_approvals.deny(approval_id, approver=person(by))
    _decided(item, json_out)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="approvals")
