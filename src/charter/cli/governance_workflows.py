"""``charter review``, ``charter access``, ``charter tasks``, ``charter notices`` (and,
from :mod:`charter.cli.rotation`, ``charter rotation``): the lifecycle workflows.

Every change has a ``--plan`` (or a ``plan`` command) that shows exactly what it
would do and changes nothing.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.syntax import Syntax

from charter.cli import rotation
from charter.cli.conventions import CharterTyper
from charter.cli.runtime import actor, cli_errors, console, emit_json, get_services
from charter.cli.tables import listing, numeric
from charter.domain.durations import parse_duration
from charter.domain.governance.review_model import Campaign, ReviewDecision
from charter.errors import InvalidInput
from charter.services.governance.jit import JitGrant, JitStatus
from charter.services.governance.tasks import TaskStatus

review_app = CharterTyper(
    help="Access reviews: owners keep, reduce or revoke their agents' access.", no_args_is_help=True
)
access_app = CharterTyper(
    help="Just-in-time access: time-boxed extra capabilities for an agent.", no_args_is_help=True
)
tasks_app = CharterTyper(
    help="Tasks Charter filed for what it cannot do itself.\n\n"
    "Without a command: list the open ones.\n\n"
    "Example: charter tasks --agent support-summarizer --all",
    invoke_without_command=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def duration(value: str, field: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from exc


def person(value: str | None, field: str = "by") -> str:
    """Who acts, as a directory e-mail: ``--by``, else ``CHARTER_ACTOR`` when it is one."""
    chosen = value or os.environ.get("CHARTER_ACTOR", "")
    if "@" not in chosen:
        raise InvalidInput("say who decides: --by EMAIL (a person in the directory)", field=field)
    return chosen.strip().lower()


# -- reviews ------------------------------------------------------------------------------------
def _campaign(campaign: Campaign, reviewer: str | None = None) -> None:
    progress = ", ".join(f"{n} {s}" for s, n in sorted(campaign.progress.items()))
    console.print(
        f"[bold]{campaign.id}[/] scope {campaign.scope} — {campaign.status}, due "
        f"{campaign.due_at:%Y-%m-%d %H:%M} UTC ({progress})"
        + ("; unreviewed agents will be suspended" if campaign.suspend_unreviewed else "")
    )
    table = listing(
        "agent",
        "reviewer",
        "status",
        "last used",
        numeric("findings"),
        "access → suggested least privilege",
    )
    for item in campaign.items:
        if reviewer and item.reviewer != reviewer:
            continue
        snap = item.snapshot
        suggestion = snap.get("suggestion", {})
        change = []
        if suggestion.get("remove"):
            change.append("remove " + "; ".join(suggestion["remove"]))
        for old, new in (suggestion.get("narrow") or {}).items():
            change.append(f"narrow {old} → {', '.join(new)}")
        table.add_row(
            item.agent,
            item.reviewer,
            item.status.value,
            (snap.get("last_activity") or "never")[:10],
            str(len(snap.get("findings", []))),
            escape("\n".join(snap.get("access", [])))
            + ("\n[yellow]" + escape("\n".join(change)) + "[/]" if change else ""),
        )
    console.print(table)


@review_app.command("start")
def review_start(
    scope: Annotated[str, typer.Option(help="all, owner:EMAIL, system:ID or agent:NAME")],
    due: Annotated[
        str | None, typer.Option(help="time to decide, e.g. 14d (policy default)")
    ] = None,
    plan: Annotated[bool, typer.Option("--plan", help="show the campaign; create nothing")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Start an access review campaign (each owner reviews their agents).

    Example: charter review start --scope owner:maria.garcia@acme.example --due 14d --plan
    """
    reviews = get_services().governance.reviews
    with cli_errors():
        due_in = duration(due, "due") if due else None
        if plan:
            shown = reviews.plan_start(scope, due_in=due_in)
            if json_out:
                emit_json(shown.to_dict())
                return
            console.print(
                f"[bold]plan[/]: review {len(shown.items)} agent(s) in {shown.scope}, "
                f"due {shown.due_at:%Y-%m-%d}"
            )
            for item in shown.items:
                console.print(
                    f"  {item.agent} → {item.reviewer}: {len(item.access)} capabilities,"
                    f" suggested {len(item.least_privilege)}"
                )
            return
        campaign = reviews.start(scope, actor=actor(), due_in=due_in)
    if json_out:
        emit_json(campaign.to_dict())
        return
    _campaign(campaign)


@review_app.command("list")
def review_list(json_out: JsonOpt = False) -> None:
    """Review campaigns, newest first.

    Example: charter review list
    """
    with cli_errors():
        campaigns = get_services().governance.reviews.list()
    if json_out:
        emit_json([c.to_dict() for c in campaigns])
        return
    table = listing("id", "status", "scope", "due", "progress", title=f"Reviews ({len(campaigns)})")
    for campaign in campaigns:
        progress = ", ".join(f"{n} {s}" for s, n in sorted(campaign.progress.items()))
        table.add_row(
            campaign.id,
            str(campaign.status),
            campaign.scope,
            f"{campaign.due_at:%Y-%m-%d}",
            progress,
        )
    console.print(table)


@review_app.command("show")
def review_show(
    campaign: str,
    reviewer: Annotated[str | None, typer.Option(help="only this reviewer's agents")] = None,
    json_out: JsonOpt = False,
) -> None:
    """A campaign: each agent's access, last use, findings and suggested least privilege.

    Example: charter review show rv-20261207-3f9a1c --reviewer maria.garcia@acme.example
    """
    with cli_errors():
        found = get_services().governance.reviews.get(campaign)
    if json_out:
        emit_json(found.to_dict())
        return
    _campaign(found, reviewer.lower() if reviewer else None)


@review_app.command("decide")
def review_decide(
    campaign: str,
    agent: str,
    decision: Annotated[ReviewDecision, typer.Argument(help="keep, reduce or revoke")],
    by: Annotated[str | None, typer.Option(help="the reviewer's e-mail")] = None,
    reason: Annotated[str, typer.Option(help="why (recorded)")] = "",
    plan: Annotated[bool, typer.Option("--plan", help="show the change; apply nothing")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Keep, reduce (to the suggested least privilege) or revoke one agent's access.

    Example: charter review decide rv-20261207-3f9a1c code-reviewer keep --by ada.osei@acme.example
    """
    reviews = get_services().governance.reviews
    with cli_errors():
        shown = reviews.plan_decision(campaign, agent, decision)
        if plan:
            if json_out:
                emit_json(shown.to_dict())
                return
            for change in shown.changes:
                console.print(f"[bold]plan[/]: {change}")
            if shown.diff:
                console.print(Syntax(shown.diff, "diff"))
            return
        item = reviews.decide(
            campaign, agent, decision, by=person(by), actor=actor(), reason=reason
        )
    if json_out:
        emit_json(item.to_dict())
        return
    for change in shown.changes:
        console.print(f"applied: {change}")
    console.print(f"{agent}: [bold]{item.status}[/] by {item.decided_by}")


# -- just-in-time access ---------------------------------------------------------------------------
def _grant(grant: JitGrant) -> str:
    window = (
        f" until {grant.ends_at:%Y-%m-%d %H:%M} UTC"
        if grant.ends_at
        else f" for {grant.duration_s // 60} min once approved"
    )
    return (
        f"{grant.id}: {grant.agent} may {escape(grant.action)} on {escape(grant.resource)} — "
        f"[bold]{grant.status}[/]{window}"
    )


@access_app.command("request")
def access_request(
    agent: str,
    action: Annotated[str, typer.Option(help="action pattern, e.g. tickets.export")],
    resource: Annotated[str, typer.Option(help="resource pattern, e.g. zendesk:tickets/*")],
    reason: Annotated[str, typer.Option(help="why the agent needs it")],
    for_: Annotated[
        str | None, typer.Option("--for", help="how long, e.g. 2h (policy max)")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    r"""Ask for a time-boxed extra capability; the agent's owner approves or denies it.

    Example: charter access request support-summarizer --action tickets.export \
    --resource "zendesk:tickets/*" --for 2h --reason "quarterly export"
    """
    with cli_errors():
        grant = get_services().governance.jit.request(
            agent,
            action=action,
            resource=resource,
            reason=reason,
            actor=actor(),
            duration=duration(for_, "for") if for_ else None,
        )
    if json_out:
        emit_json(grant.to_dict())
        return
    console.print(_grant(grant))


def _decide_access(approve: bool):  # type: ignore[no-untyped-def]
    def command(
        grant_id: str,
        by: Annotated[str | None, typer.Option(help="the agent owner's e-mail")] = None,
        reason: Annotated[str | None, typer.Option(help="why (recorded)")] = None,
        json_out: JsonOpt = False,
    ) -> None:
        jit = get_services().governance.jit
        with cli_errors():
            decide = jit.approve if approve else jit.deny
            grant = decide(grant_id, by=person(by), actor=actor(), reason=reason)
        if json_out:
            emit_json(grant.to_dict())
            return
        console.print(_grant(grant))

    command.__doc__ = (
        "Approve an access request: effective in decisions at once.\n\n"
        "Example: charter access approve jit-5e0c1d2a9f --by maria.garcia@acme.example"
        if approve
        else "Refuse an access request.\n\n"
        'Example: charter access deny jit-5e0c1d2a9f --by maria.garcia@acme.example --reason "no"'
    )
    return command


access_app.command("approve")(_decide_access(True))
access_app.command("deny")(_decide_access(False))


@access_app.command("revoke")
def access_revoke(
    grant_id: Annotated[str, typer.Argument(help="the grant's id (charter access list)")],
    reason: Annotated[
        str, typer.Option(help="why, recorded in the audit log")
    ] = "revoked before its window closed",
    json_out: JsonOpt = False,
) -> None:
    """End an approved grant now, before its window closes: decisions stop allowing it at once.

    Example: charter access revoke jit-5e0c1d2a9f --reason "done early"
    """
    with cli_errors():
        grant = get_services().governance.jit.revoke(grant_id, actor=actor(), reason=reason)
    if json_out:
        emit_json(grant.to_dict())
        return
    console.print(
        f"revoked grant {grant.id}; {grant.agent} no longer has "
        f"{escape(grant.action)} on {escape(grant.resource)}"
    )


@access_app.command("list")
def access_list(
    agent: Annotated[str | None, typer.Option()] = None,
    status: Annotated[JitStatus | None, typer.Option()] = None,
    json_out: JsonOpt = False,
) -> None:
    """Access requests and grants, newest first.

    Example: charter access list --agent support-summarizer --status pending
    """
    with cli_errors():
        grants = get_services().governance.jit.list(agent=agent, status=status)
    if json_out:
        emit_json([g.to_dict() for g in grants])
        return
    table = listing(
        "id", "agent", "action", "resource", "status", "window", title=f"Access ({len(grants)})"
    )
    for grant in grants:
        window = (
            f"until {grant.ends_at:%Y-%m-%d %H:%M} UTC"
            if grant.ends_at
            else f"{grant.duration_s // 60} min once approved"
        )
        table.add_row(
            grant.id,
            escape(grant.agent),
            escape(grant.action),
            escape(grant.resource),
            str(grant.status),
            window,
        )
    console.print(table)


# -- tasks and notices -----------------------------------------------------------------------------
@tasks_app.callback()
def tasks(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option()] = None,
    all_: Annotated[bool, typer.Option("--all", help="include done tasks")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Open tasks (``charter tasks done ID`` closes one)."""
    if ctx.invoked_subcommand is not None:
        return
    with cli_errors():
        governance = get_services().governance
        found = governance.tasks.list(status=None if all_ else TaskStatus.OPEN, agent=agent)
        delivery = governance.delivery.states("task", [t.id for t in found])
    if json_out:
        emit_json([{**t.to_dict(), "delivery": delivery.get(t.id, [])} for t in found])
        return
    table = listing("id", "status", "task", "assignee", "delivery", title=f"Tasks ({len(found)})")
    for task in found:
        steps = "".join(f"\n- {escape(step)}" for step in task.steps)
        table.add_row(
            task.id,
            str(task.status),
            f"[bold]{escape(task.title)}[/]{steps}",
            task.assignee or "-",
            delivery_cell(delivery.get(task.id, [])),
        )
    console.print(table)


@tasks_app.command("done")
def task_done(task_id: str, note: Annotated[str | None, typer.Option()] = None) -> None:
    """Close a task you did.

    Example: charter tasks done 3f9a1c0e5b7d2a64 --note "key deleted in the AWS console"
    """
    with cli_errors():
        task = get_services().governance.tasks.complete(task_id, actor=actor(), note=note)
    console.print(f"task {task.id} done")


def notices(
    to: Annotated[str | None, typer.Option("--to", help="recipient e-mail")] = None,
    kind: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    json_out: JsonOpt = False,
) -> None:
    """Reminders and warnings Charter sent (review due, charter expiring, ownership …).

    Example: charter notices --to maria.garcia@acme.example
    """
    with cli_errors():
        governance = get_services().governance
        found = governance.notices.list(recipient=to, kind=kind, limit=limit)
        delivery = governance.delivery.states("notice", [str(n.id) for n in found])
    if json_out:
        emit_json([{**n.to_dict(), "delivery": delivery.get(str(n.id), [])} for n in found])
        return
    table = listing("sent", "to", "notice", "delivery", title=f"Notices ({len(found)})")
    for n in found:
        table.add_row(
            f"{n.created_at:%Y-%m-%d %H:%M}",
            escape(n.recipient),
            f"[bold]{escape(n.subject)}[/]\n{escape(n.body)}",
            delivery_cell(delivery.get(str(n.id), [])),
        )
    console.print(table)


def delivery_cell(states: list[dict[str, Any]]) -> str:
    """Where a notice went: ``slack sent``, ``mail→ada@… queued (HTTP 503 …)``."""
    if not states:
        return "[dim]not delivered[/]"
    lines = []
    for s in states:
        where = s["channel"] + (f"→{s['address']}" if s["address"] else "")
        line = f"{escape(where)} {s['status']}"
        if s["reference"]:
            line += f" {escape(s['reference'])}"
        if s["status"] != "sent" and s["error"]:
            line += f" [red]({escape(s['error'][:80])})[/]"
        lines.append(line)
    return "\n".join(lines)


def print_decommission(body: dict[str, Any], *, applied: bool) -> None:
    """The decommission plan (or what was done) as a person reads it."""
    verb = "revoked by Charter" if applied else "Charter will revoke"
    console.print(
        f"[bold]{body['agent']}[/] (owner {body['owner']}) — "
        + ("[red]decommissioned[/]" if applied else f"plan from state {body['state']}")
    )
    console.print(f"[bold]{verb}:[/]")
    for item in body["charter_revokes"]:
        console.print(
            f"  ✓ {escape(item['action'])}"
            + (f"  [dim]{escape(item['id'])}[/]" if item["kind"] != "agent" else "")
        )
    tasks_for = body["tasks"]
    console.print(f"[bold]{'tasks filed' if applied else 'tasks to file'} ({len(tasks_for)}):[/]")
    for item in tasks_for:
        console.print(f"  • {escape(str(item['system']))}: {escape(item['action'])}")
        for step in item["steps"]:
            console.print(f"      {escape(step)}")
    if applied and body.get("problems"):
        for problem in body["problems"]:
            console.print(f"[yellow]note:[/] {problem}")


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
    app.add_typer(access_app, name="access")
    rotation.register(app)
    app.add_typer(tasks_app, name="tasks")
    app.command("notices")(notices)
