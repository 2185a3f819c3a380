"""``charter agent …``: register, inspect and move agents through their lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax

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
from charter.cli.tables import listing, numeric
from charter.cli.whatif import YES_HINT, guard_change
from charter.domain.agent import Agent, CharterVersion
from charter.domain.audit_change import change_lines
from charter.domain.charter_file import charter_file_text
from charter.domain.charter_parsing import MAX_CHARTER_BYTES, parse_charter_text
from charter.domain.enums import AgentState
from charter.domain.lifecycle import Transition
from charter.domain.paging import MAX_OFFSET
from charter.domain.whatif_input import ParsedProposal, ProposalKind
from charter.errors import InvalidInput
from charter.services.agent_registry import render_yaml, version_diff
from charter.services.changes import Proposal

app = CharterTyper(help="Register agents, inspect them and move them through their lifecycle.")

STATE_STYLE = {
    AgentState.ACTIVE: "green",
    AgentState.PROPOSED: "cyan",
    AgentState.DISCOVERED: "magenta",
    AgentState.SUSPENDED: "yellow",
    AgentState.DECOMMISSIONED: "dim",
}


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "name": agent.name,
        "owner": agent.owner,
        "state": agent.state.value,
        "purpose": agent.purpose,
        "labels": agent.labels,
        "charter_version": agent.charter_version,
        "pending_owner": agent.pending_owner,
        "created_at": agent.created_at.isoformat(),
        "updated_at": agent.updated_at.isoformat(),
        "charter": agent.charter.document() if agent.charter else None,
    }


def _load(path: Path) -> Any:
    data = read_input_file(path, limit=MAX_CHARTER_BYTES, field="file")
    return parse_charter_text(data, source=str(path))


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")


@app.command()
def register(
    file: Annotated[Path, typer.Argument(help="charter file (YAML or JSON)")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help=f"what-if denies recent calls: {YES_HINT}")
    ] = False,
) -> None:
    """Register a new agent from its charter file (it starts as 'proposed').

    Example: charter agent register examples/agents/support-summarizer.yaml
    """
    with cli_errors():
        spec = _load(file)
        guard_change(ParsedProposal(ProposalKind.CHARTER, spec), yes=yes)
        result = get_services().registry.register(spec, actor=actor())
    _warn(result.warnings)
    if json_out:
        emit_json({**agent_json(result.agent), "warnings": result.warnings})
        return
    console.print(
        f"registered [bold]{result.agent.name}[/] (owner {result.agent.owner}, "
        f"state {result.agent.state}, charter v{result.agent.charter_version})"
    )


@app.command()
def update(
    file: Annotated[Path, typer.Argument(help="the new charter file")],
    reason: Annotated[str, typer.Option(help="why the charter changes")] = "updated",
    json_out: Annotated[bool, typer.Option("--json")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help=f"what-if denies recent calls: {YES_HINT}")
    ] = False,
) -> None:
    """Record a new charter version for an existing agent (old versions are kept).

    A version that widens an active or suspended agent's access becomes a proposal
    that someone else approves ('charter changes approve ID --by EMAIL'). A version
    that would deny calls the agent made in the last 30 days shows them ('charter
    what-if') and asks for --yes.

    Example: charter agent update support-summarizer-v2.yaml --reason "digest is weekly now"
    """
    with cli_errors():
        spec = _load(file)
        guard_change(ParsedProposal(ProposalKind.CHARTER, spec), yes=yes)
        result = get_services().governance.changes.update_charter(
            spec, actor=actor(), reason=reason
        )
    if isinstance(result, Proposal):
        if json_out:
            emit_json(result.to_dict())
            return
        console.print(
            f"the new charter widens {result.agent}'s access: change [bold]{result.id}[/] "
            f"waits for approval ('charter changes show {result.id}')"
        )
        for widening in result.diff.get("widenings", []):
            console.print(f"  + {escape(widening['message'])}")
        return
    _warn(result.warnings)
    if json_out:
        emit_json({**agent_json(result.agent), "warnings": result.warnings})
        return
    console.print(f"{result.agent.name} is now at charter v{result.agent.charter_version}")


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="the agent's name")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="this charter version (default: current)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="write here (default: stdout)")
    ] = None,
) -> None:
    """Write an agent's charter as an editable YAML file that 'charter agent update' accepts.

    Example: charter agent export support-summarizer --out support-summarizer.yaml
    """
    with cli_errors():
        versions = get_services().registry.history(name)
        chosen = versions[-1] if version is None else _version(versions, version)
        text = charter_file_text(chosen.document, version=chosen.version)
        if out is None:
            typer.echo(text, nl=False)
            return
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write {out}: {exc.strerror}", field="out") from None
    err_console.print(f"wrote {escape(str(out))} ({name}, charter v{chosen.version})")


def _version(versions: list[CharterVersion], number: int) -> CharterVersion:
    for candidate in versions:
        if candidate.version == number:
            return candidate
    raise InvalidInput(
        f"{versions[-1].agent} has charter versions 1 to {versions[-1].version}, not {number}",
        field="version",
    )


def _parse_labels(labels: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"label filter {item!r} must look like key=value", field="label")
        parsed[key] = value
    return parsed


@app.command("list")
def list_agents(
    owner: Annotated[str | None, typer.Option(help="only agents owned by this e-mail")] = None,
    state: Annotated[AgentState | None, typer.Option(help="only agents in this state")] = None,
    label: Annotated[list[str] | None, typer.Option(help="key=value; repeatable")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option(min=0, max=MAX_OFFSET)] = 0,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List agents as a table (or JSON).

    Example: charter agent list --state active --owner maria.garcia@acme.example
    """
    with cli_errors():
        page = get_services().registry.list(
            owner=owner, state=state, labels=_parse_labels(label or []), limit=limit, offset=offset
        )
    if json_out:
        emit_json(
            {
                "items": [agent_json(a) for a in page.items],
                "total": page.total,
                "limit": page.limit,
                "offset": page.offset,
            }
        )
        return
    table = listing("name", "state", "owner", "charter", "purpose", title=f"Agents ({page.total})")
    for agent in page.items:
        style = STATE_STYLE.get(agent.state, "")
        table.add_row(
            agent.name,
            f"[{style}]{agent.state}[/]",
            agent.owner,
            f"v{agent.charter_version}",
            agent.purpose,
        )
    console.print(table)
    if page.total > page.offset + len(page.items):
        console.print(f"[dim]… {page.total - page.offset - len(page.items)} more (--offset)[/]")


@app.command()
def show(
    name: str,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one agent: charter, state, owner, credentials and history.

    Example: charter agent show support-summarizer
    """
    services = get_services()
    with cli_errors():
        agent = services.registry.get(name)
        events = services.audit.list(target_type="agent", target=name, limit=20)
    if json_out:
        emit_json(
            {
                **agent_json(agent),
                "history": [
                    {
                        "seq": e.seq,
                        "time": e.time,
                        "actor": e.actor,
                        "action": e.action,
                        "before": e.before,
                        "after": e.after,
                    }
                    for e in events
                ],
            }
        )
        return
    style = STATE_STYLE.get(agent.state, "")
    console.print(
        Panel.fit(
            f"[bold]{agent.name}[/]  [{style}]{agent.state}[/]\n"
            f"owner: {agent.owner}"
            + (f"  (pending: {agent.pending_owner})" if agent.pending_owner else "")
            + f"\ncharter: v{agent.charter_version}\npurpose: {agent.purpose}",
            title="agent",
        )
    )
    if agent.charter:
        console.print(Syntax(render_yaml(agent.charter.document()), "yaml", theme="ansi_dark"))
    table = listing(numeric("#"), "time", "actor", "action", "change", title="history")
    for event in events:
        table.add_row(
            str(event.seq),
            event.time[:19],
            escape(event.actor),
            event.action,
            escape("\n".join(change_lines(event.before, event.after))),
        )
    console.print(table)


@app.command()
def history(
    name: str,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every charter version of an agent, with the diff from the one before.

    Example: charter agent history support-summarizer
    """
    with cli_errors():
        versions = get_services().registry.history(name)
    if json_out:
        emit_json(
            [
                {
                    "version": v.version,
                    "created_at": v.created_at.isoformat(),
                    "created_by": v.created_by,
                    "reason": v.reason,
                    "document": v.document,
                    "diff": version_diff(versions[i - 1] if i else None, v),
                }
                for i, v in enumerate(versions)
            ]
        )
        return
    for index, version in enumerate(versions):
        console.print(
            f"[bold]v{version.version}[/] {version.created_at:%Y-%m-%d %H:%M} "
            f"by {version.created_by}: {version.reason}"
        )
        if index:
            console.print(Syntax(version_diff(versions[index - 1], version), "diff"))


def _transition_command(transition: Transition, help_text: str, reason: str) -> None:
    def command(
        name: str,
        reason: Annotated[str, typer.Option(help="why (recorded in the audit log)")],
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        with cli_errors():
            agent = get_services().registry.transition(
                name, transition, actor=actor(), reason=reason
            )
        if json_out:
            emit_json(agent_json(agent))
            return
        console.print(f"{agent.name} is now [bold]{agent.state}[/]")

    example = f'charter agent {transition.value} support-summarizer --reason "{reason}"'
    command.__doc__ = f"{help_text}\n\nExample: {example}"
    app.command(transition.value)(command)


_transition_command(
    Transition.ACTIVATE, "Activate a proposed agent (its owner must be active).", "approved"
)
_transition_command(
    Transition.SUSPEND, "Suspend an active agent: every decision denies.", "incident INC-42"
)
_transition_command(Transition.RESUME, "Resume a suspended agent.", "resolved")
# decommission: registered by charter.cli.governance (plans first, revokes, files tasks)


@app.command()
def transfer(
    name: str,
    to: Annotated[str, typer.Option("--to", help="the new owner's e-mail")],
    reason: Annotated[str, typer.Option(help="why")] = "transferred",
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Give an agent a new owner (an active person in the directory).

    Example: charter agent transfer support-summarizer --to li.wei@acme.example
    """
    with cli_errors():
        agent = get_services().registry.transfer(name, to, actor=actor(), reason=reason)
    if json_out:
        emit_json(agent_json(agent))
        return
    console.print(f"{agent.name} is now owned by {agent.owner}")
