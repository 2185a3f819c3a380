"""``charter check | explain | policy | roles | export cedar``: the decision point from a shell."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

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
from charter.cli.whatif import YES_HINT, guard_change
from charter.domain.access_map import RuleView
from charter.domain.charter_parsing import MAX_CHARTER_BYTES
from charter.domain.decision import Decision
from charter.domain.nesting import load_json
from charter.domain.org_policy import parse_org_policy_text
from charter.domain.roles import parse_roles_text
from charter.domain.typed_moments import parse_moment
from charter.domain.whatif_input import ParsedProposal, ProposalKind
from charter.errors import InputTooLarge, InvalidInput
from charter.services.decisions import Applied

MAX_CONTEXT_BYTES = 64 * 1024

policy_app = CharterTyper(help="Organisation policy: deny rules every agent is subject to.")
roles_app = CharterTyper(help="Roles: which capabilities each directory group's members hold.")
export_app = CharterTyper(help="Export Charter's policy to other formats.")


def _context(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    if len(text.encode()) > MAX_CONTEXT_BYTES:
        raise InputTooLarge(
            f"the context is larger than {MAX_CONTEXT_BYTES} bytes", field="context"
        )
    value = load_json(text, source="--context", field="context")
    if not isinstance(value, dict):
        raise InvalidInput("--context must be a JSON object", field="context")
    return value


def _moment(text: str | None) -> dt.datetime | None:
    """``--at`` as a person types it; times without an offset are this machine's local time."""
    if not text:
        return None
    now = dt.datetime.now().astimezone()
    return parse_moment(text, now=now, zone=now.tzinfo or dt.UTC)


def print_decision(decision: Decision, rule: RuleView | None = None) -> None:
    if decision.allowed:
        console.print(f"[bold green]ALLOW[/]  by {decision.rule}")
        if rule is not None and rule.description:
            terms = "; ".join(rule.conditions)
            console.print(f"       {escape(rule.description)}" + (f" ({terms})" if terms else ""))
        if decision.role:
            console.print(f"       the delegator's access comes from {decision.role}")
        return
    console.print("[bold red]DENY[/]")
    for reason in decision.reasons:
        console.print(f"  [red]{reason.id}[/]  {reason.message}", soft_wrap=True)


def check(
    action: Annotated[str, typer.Option("--action", help="e.g. tickets.read or an MCP tool name")],
    resource: Annotated[
        str, typer.Option("--resource", "-r", help="system:path, e.g. zendesk:tickets/4711")
    ],
    context: Annotated[str | None, typer.Option("--context", "-c", help="JSON object")] = None,
    on_behalf_of: Annotated[
        str | None, typer.Option("--on-behalf-of", help="the delegator's e-mail")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="decide as of this time: ISO 8601, 'next monday 10:00', 'tomorrow 09:30', "
            "'2027-03-01 10:00' (local time unless a zone follows; default: now)",
        ),
    ] = None,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="exit 1 when denied")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="the agent's name")] = None,
    person: Annotated[
        str | None,
        typer.Option("--person", help="a person instead: their e-mail or an external id"),
    ] = None,
) -> None:
    """Ask the decision point: may AGENT do ACTION on RESOURCE? Prints the decision and why.

    Your question is not the agent's activity: nothing is recorded.

    Example: charter check -a support-summarizer --action tickets.read -r zendesk:tickets/4711
    """
    with cli_errors():
        if (agent is None) == (person is None):
            raise InvalidInput(
                "give exactly one subject: --agent NAME, or --person EMAIL-OR-EXTERNAL-ID",
                field="agent",
            )
        parsed, moment = _context(context), _moment(at)  # bad input: refused before the store
        service = get_services().decisions
        service.refresh()  # the store as it is now, also in a process that asked before
        rule = None
        if person is not None:
            decision = service.decide_subject(
                "user",
                person,
                action,
                resource,
                context=parsed,
                on_behalf_of=on_behalf_of,
                at=moment,
                source="cli",
                record=False,
            )
        else:
            decision = service.decide(
                str(agent),
                action,
                resource,
                context=parsed,
                on_behalf_of=on_behalf_of,
                at=moment,
                source="cli",
                record=False,
            )
            rule = service.allow_rule(str(agent), decision.rule) if decision.allowed else None
    if json_out:
        emit_json(decision.to_dict())
    else:
        print_decision(decision, rule)
    if exit_code and not decision.allowed:
        raise typer.Exit(1)


def _explain_person(key: str, json_out: bool) -> None:
    with cli_errors():
        view = get_services().decisions.explain_person(key)
    if json_out:
        emit_json(view)
        return
    state = "active" if view["active"] else "departed"
    console.print(
        f"[bold]{view['email']}[/] — {state}, groups {', '.join(view['groups']) or 'none'}"
        + (f", also known as {', '.join(view['external_ids'])}" if view["external_ids"] else "")
    )
    table = listing(
        "",
        "action",
        "resource",
        "when",
        "rule",
        title="decided on directly: the org policy, then their roles",
    )
    for rule in view["rules"]:
        mark = "[green]allow[/]" if rule["effect"] == "allow" else "[red]org deny[/]"
        table.add_row(
            mark,
            escape(rule["action"]),
            escape(rule["resource"]),
            escape("; ".join(rule["when"])),
            escape(rule["rule"]),
        )
    console.print(table)


def explain(
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="the agent's name")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    person: Annotated[
        str | None,
        typer.Option("--person", help="a person instead: their e-mail or an external id"),
    ] = None,
) -> None:
    """Show what an agent (or a person) can do, system by system, and what stops it.

    Example: charter explain --agent support-summarizer
    """
    with cli_errors():
        if (agent is None) == (person is None):
            raise InvalidInput(
                "give exactly one subject: --agent NAME, or --person EMAIL-OR-EXTERNAL-ID",
                field="agent",
            )
    if person is not None:
        _explain_person(person, json_out)
        return
    with cli_errors():
        view = get_services().decisions.explain_agent(str(agent))
    if json_out:
        emit_json(view.to_dict())
        return
    expiry = f", charter valid through {view.expires}" if view.expires else ""
    console.print(
        f"[bold]{view.agent}[/] — {view.state}, owner {view.owner}, "
        f"charter v{view.charter_version}{expiry}"
    )
    for note in view.notes:
        console.print(f"[yellow]note:[/] {note}")
    if not view.systems:
        console.print("it can do nothing: no allow rules are in force")
    for system, rules in view.systems.items():
        title = "any system" if system == "*" else system
        limited = any(rule.rate_limit_per_minute for rule in rules)
        rate_column = ("rate limit",) if limited else ()
        table = listing("", "action", "resource", "when", *rate_column, "rule", title=title)
        for rule in rules:
            mark = "[green]allow[/]" if rule.effect == "allow" else "[red]deny[/]"
            if rule.id.startswith("org/"):
                mark = "[red]org deny[/]"
            cells = [mark, escape(rule.action), escape(rule.resource)]
            cells.append(escape("; ".join(rule.conditions)))
            if limited:
                limit = rule.rate_limit_per_minute
                cells.append(f"{limit}/min" if limit else "")
            table.add_row(*cells, escape(rule.id))
        console.print(table)
    console.print(f"delegation: {view.delegation}")


def _print_applied(applied: Applied, path: Path) -> None:
    for warning in applied.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    what = "org policy" if applied.kind == "policy" else "roles"
    if not applied.changed:
        console.print(
            f"{what} from {path} is already in force (v{applied.version}); nothing changed"
        )
        return
    console.print(f"applied {what} from {path} as [bold]v{applied.version}[/]")
    for label, items, style in (
        ("added", applied.added, "green"),
        ("removed", applied.removed, "red"),
        ("changed", applied.modified, "yellow"),
    ):
        if items:
            console.print(f"  [{style}]{label}[/]: {', '.join(items)}")
    console.print("running decision points pick the change up within a second")


@policy_app.command("apply")
def policy_apply(
    file: Annotated[Path, typer.Argument(help="org policy file (YAML or JSON)")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help=f"what-if denies recent calls: {YES_HINT}")
    ] = False,
) -> None:
    """Put an org policy file in force (a new version; the old one is kept).

    Example: charter policy apply examples/policy/org-policy.yaml
    """
    with cli_errors():
        policy = parse_org_policy_text(
            read_input_file(file, limit=MAX_CHARTER_BYTES), source=str(file)
        )
        guard_change(ParsedProposal(ProposalKind.POLICY, policy), yes=yes)
        applied = get_services().decisions.apply_policy(policy, actor=actor(), source=str(file))
    if json_out:
        emit_json(applied.to_dict())
    else:
        _print_applied(applied, file)


@policy_app.command("show")
def policy_show() -> None:
    """Print the org policy in force, as JSON.

    Example: charter policy show
    """
    with cli_errors():
        document, version = get_services().decisions.current("policy")
    emit_json({"version_applied": version, **document})


@roles_app.command("apply")
def roles_apply(
    file: Annotated[Path, typer.Argument(help="roles file (YAML or JSON)")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help=f"what-if denies recent calls: {YES_HINT}")
    ] = False,
) -> None:
    """Put a roles file in force: which directory groups hold which capabilities.

    Example: charter roles apply examples/policy/roles.yaml
    """
    with cli_errors():
        roles = parse_roles_text(read_input_file(file, limit=MAX_CHARTER_BYTES), source=str(file))
        guard_change(ParsedProposal(ProposalKind.ROLES, roles), yes=yes)
        applied = get_services().decisions.apply_roles(roles, actor=actor(), source=str(file))
    if json_out:
        emit_json(applied.to_dict())
    else:
        _print_applied(applied, file)


@roles_app.command("show")
def roles_show() -> None:
    """Print the roles in force, as JSON.

    Example: charter roles show
    """
    with cli_errors():
        document, version = get_services().decisions.current("roles")
    emit_json({"version_applied": version, **document})


@export_app.command("cedar")
def export_cedar(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="directory for policies.cedar, schema.cedarschema, entities.json"
        ),
    ] = None,
) -> None:
    """Export active charters, org policy and roles as Cedar policies, schema and entities.

    Example: charter export cedar --out cedar
    """
    with cli_errors():
        export = get_services().decisions.export_cedar()
        if out is None:
            typer.echo(export.policies, nl=False)
            return
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / "policies.cedar").write_text(export.policies)
            (out / "schema.cedarschema").write_text(export.schema)
            (out / "entities.json").write_text(json.dumps(export.entities, indent=2) + "\n")
        except OSError as exc:
            raise InvalidInput(f"cannot write to {out}: {exc.strerror}", field="out") from exc
    policies = export.policies.count("\n@id(")
    console.print(
        f"wrote {out}/policies.cedar ({policies} policies), {out}/schema.cedarschema, "
        f"{out}/entities.json ({len(export.entities)} entities)"
    )


def register(app: typer.Typer) -> None:
    """Mount the decision commands on the root ``charter`` app."""
    app.command("check")(check)
    app.command("explain")(explain)
    app.add_typer(policy_app, name="policy")
    app.add_typer(roles_app, name="roles")
    app.add_typer(export_app, name="export")
