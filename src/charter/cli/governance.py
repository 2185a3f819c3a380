"""``charter findings``, ``charter posture``, ``charter worker`` and the governed
``charter agent decommission`` / ``charter agent accept``.

The workflow commands (review, access, rotation, tasks, notices) are in
:mod:`charter.cli.governance_workflows`; :func:`register` mounts all of them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column

from charter.cli import agent as agent_cli
from charter.cli import governance_workflows as workflows
from charter.cli.conventions import JSON_HELP, CharterTyper
from charter.cli.governance_workflows import duration, person
from charter.cli.runtime import actor, cli_errors, console, emit_json, get_services
from charter.cli.tables import listing, numeric
from charter.domain.enums import FindingStatus, Severity
from charter.domain.governance.finding import Finding
from charter.domain.governance.ocsf import to_ocsf_events
from charter.domain.governance.rule_registry import all_rules
from charter.domain.governance.sarif import to_sarif
from charter.errors import InvalidInput
from charter.services.governance.findings import FindingFilter
from charter.services.governance.posture import PostureBy, PostureEntry

findings_app = CharterTyper(
    help="Risk findings over agents, identities and credentials (OWASP NHI / Agentic Top 10)."
    "\n\nWithout a command: list them, evaluating first when the store changed.\n\n"
    "Example: charter findings --severity high --agent support-summarizer\n"
    "Example: charter findings --format sarif --output findings.sarif",
    invoke_without_command=True,
    no_args_is_help=False,
)

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
FORMATS = ("table", "json", "sarif", "ocsf")


def _statuses(value: str) -> tuple[FindingStatus, ...]:
    if value == "all":
        return tuple(FindingStatus)
    try:
        return tuple(FindingStatus(v.strip()) for v in value.split(",") if v.strip())
    except ValueError as exc:
        raise InvalidInput(
            f"{exc}; use open, acknowledged, suppressed, resolved or all", field="status"
        ) from exc


def _table(findings: list[Finding], total: int) -> None:
    table = listing(
        Column("id", style="dim"),
        "severity",
        "rule (OWASP)",
        "entity",
        "finding",
        title=f"Findings ({total})",
    )
    for f in findings:
        body = f.to_dict()
        status = "" if f.status == FindingStatus.OPEN else f" [dim]{f.status}[/]"
        table.add_row(
            f.id[:8],
            f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]{status}",
            f"{f.rule} ({','.join(body['owasp'])})",
            escape(f"{f.entity_type} {f.entity_name}"),
            escape(f.message),
        )
    console.print(table)


def _summary(findings: list[Finding]) -> str:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
    order = [s.value for s in reversed(Severity)]
    return ", ".join(f"{counts[s]} {s}" for s in order if s in counts) or "none"


@findings_app.callback()
def findings(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="<table|json|sarif|ocsf>",
            help="table, json, sarif (2.1.0) or ocsf (2004)",
        ),
    ] = "table",
    status: Annotated[str, typer.Option(help="comma-separated statuses, or 'all'")] = (
        "open,acknowledged"
    ),
    severity: Annotated[Severity | None, typer.Option(help="at least this severity")] = None,
    rule: Annotated[str | None, typer.Option(help="only this rule id")] = None,
    agent: Annotated[str | None, typer.Option(help="only findings charged to this agent")] = None,
    owner: Annotated[str | None, typer.Option(help="only findings of this owner")] = None,
    system: Annotated[str | None, typer.Option(help="only findings in this system")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 500,
    evaluate: Annotated[
        bool, typer.Option("--evaluate/--no-evaluate", help="evaluate first if the store changed")
    ] = True,
    output: Annotated[Path | None, typer.Option(help="write to FILE instead of stdout")] = None,
) -> None:
    """List findings; evaluates first when the store changed since the last evaluation."""
    if ctx.invoked_subcommand is not None:
        return
    chosen = "json" if json_out else output_format
    services = get_services()
    with cli_errors():
        if chosen not in FORMATS:
            raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}", field="format")
        ran = services.governance.evaluation.ensure_current(actor=actor()) if evaluate else None
        where = FindingFilter(
            _statuses(status), severity, rule, agent, owner.lower() if owner else None, system
        )
        found, total = services.governance.findings.list(where, limit=limit)
    document: Any
    if chosen == "table":
        if ran is not None:
            c = ran.counts
            console.print(
                f"[dim]evaluated {c['agents']} agents, {c['identities']} identities, "
                f"{c['credentials']} credentials in {ran.duration_ms} ms: "
                f"{c['new']} new, {c['resolved']} resolved[/]"
            )
        _table(found, total)
        console.print(
            f"{_summary(found)}"
            + (
                f"  [dim](showing {len(found)} of {total}: --limit)[/]"
                if total > len(found)
                else ""
            )
        )
        return
    if chosen == "json":
        document = {
            "total": total,
            "evaluation": ran.to_dict() if ran else None,
            "findings": [f.to_dict() for f in found],
        }
    elif chosen == "sarif":
        document = to_sarif(found)
    else:
        document = to_ocsf_events(found)
    if output is not None:
        output.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"wrote {len(found)} findings as {chosen} to {output}")
    else:
        emit_json(document)


@findings_app.command("rules")
def rules(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every finding rule: id, severity, OWASP ids, what it checks, what to do.

    Example: charter findings rules
    """
    catalogue = all_rules()
    if json_out:
        emit_json(
            [
                {
                    "id": r.id,
                    "title": r.meta.title,
                    "entity": r.meta.entity.value,
                    "severity": r.meta.severity.value,
                    "owasp": list(r.meta.owasp),
                    "description": r.meta.description,
                    "remediation": r.meta.remediation,
                    "evidence": list(r.meta.evidence),
                    "thresholds": list(r.meta.thresholds),
                }
                for r in catalogue
            ]
        )
        return
    table = listing("id", "entity", "severity", "OWASP", "title", title=f"Rules ({len(catalogue)})")
    for r in catalogue:
        table.add_row(
            r.id, r.meta.entity.value, r.meta.severity.value, ",".join(r.meta.owasp), r.meta.title
        )
    console.print(table)


@findings_app.command("evaluate")
def evaluate_now(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Evaluate every rule now, whether or not the store changed.

    Example: charter findings evaluate
    """
    with cli_errors():
        result = get_services().governance.evaluation.evaluate(actor=actor())
    if json_out:
        emit_json(result.to_dict())
        return
    c = result.counts
    console.print(
        f"evaluated in {result.duration_ms} ms: {c['new']} new, {c['changed']} changed, "
        f"{c['reopened']} reopened, {c['resolved']} resolved; {c['live']} live"
    )


@findings_app.command("show")
def show(finding_id: str, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One finding with its evidence, suggestion and remediation.

    Example: charter findings show 3af5e4f0
    """
    with cli_errors():
        finding = get_services().governance.findings.get(finding_id)
    body = finding.to_dict()
    if json_out:
        emit_json(body)
        return
    console.print(
        f"[{SEVERITY_STYLE[finding.severity]}]{finding.severity}[/] [bold]{finding.rule}"
        f"[/] ({', '.join(body['owasp'])}) — {finding.status}"
    )
    console.print(
        f"{finding.entity_type} [bold]{escape(finding.entity_name)}[/]  {escape(finding.entity_id)}"
    )
    console.print(escape(finding.message))
    console.print_json(
        json.dumps({"evidence": body["evidence"], "suggestion": body["suggestion"]}, default=str)
    )
    console.print(f"[bold]remediation:[/] {escape(str(body['remediation']))}")


def _change(verb: str, finding: Finding) -> None:
    console.print(
        f"finding {finding.id} ({finding.rule} on {escape(finding.entity_name)}) is now "
        f"[bold]{finding.status}[/] ({verb})"
    )


@findings_app.command("ack")
def acknowledge(
    finding_id: str, reason: Annotated[str | None, typer.Option(help="why")] = None
) -> None:
    """Acknowledge a finding (it stays listed until the problem is gone).

    Example: charter findings ack 3af5e4f0 --reason "the owner is on it"
    """
    with cli_errors():
        done = get_services().governance.findings.acknowledge(
            finding_id, actor=actor(), reason=reason
        )
    _change("acknowledged", done)


@findings_app.command("suppress")
def suppress(
    finding_id: str,
    reason: Annotated[str, typer.Option(help="why it is acceptable (recorded)")],
    for_: Annotated[str, typer.Option("--for", help="how long, e.g. 30d (at most a year)")],
) -> None:
    """Suppress a finding for a while, with a reason; it reopens when the time is up.

    Example: charter findings suppress 3af5e4f0 --reason "test tenant" --for 30d
    """
    services = get_services()
    with cli_errors():
        until = services.clock.now() + dt.timedelta(seconds=duration(for_, "for"))
        done = services.governance.findings.suppress(
            finding_id, actor=actor(), reason=reason, until=until
        )
    _change(f"until {until:%Y-%m-%d %H:%M} UTC", done)


@findings_app.command("reopen")
def reopen(finding_id: str, reason: Annotated[str | None, typer.Option()] = None) -> None:
    """Reopen an acknowledged or suppressed finding.

    Example: charter findings reopen 3af5e4f0
    """
    with cli_errors():
        done = get_services().governance.findings.reopen(finding_id, actor=actor(), reason=reason)
    _change("reopened", done)


def posture(
    by: Annotated[PostureBy, typer.Option(help="agent, owner or system")] = PostureBy.AGENT,
    explain: Annotated[str | None, typer.Option(help="explain one agent/owner/system")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    evaluate: Annotated[bool, typer.Option("--evaluate/--no-evaluate")] = True,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Risk score per agent, owner or system, with the arithmetic that explains it.

    Example: charter posture --by owner
    Example: charter posture --explain support-summarizer
    """
    services = get_services()
    with cli_errors():
        if evaluate:
            services.governance.evaluation.ensure_current(actor=actor())
        entries = services.governance.posture.summary(by, key=explain, limit=limit)
    if json_out:
        emit_json([e.to_dict() for e in entries])
        return
    if explain is not None:
        if not entries:
            console.print(f"{by} {explain}: score 0 (no live findings)")
        for entry in entries:
            _explain(entry)
        return
    table = listing(
        numeric("score"),
        "grade",
        by.value,
        numeric("findings"),
        "critical/high/medium/low",
        "largest contributions",
        title=f"Posture by {by} (top {limit})",
    )
    for e in entries:
        sev = "/".join(str(e.by_severity.get(s, 0)) for s in ("critical", "high", "medium", "low"))
        top = "; ".join(f"{c.rule} +{c.points}" for c in e.contributions[:3])
        key = escape(e.key)
        if e.no_owner:  # shadow agents nobody owns: last, apart from the people ranked above
            table.add_section()
            key = "[yellow](no owner)[/]"
        table.add_row(str(e.score), e.grade, key, str(e.findings), sev, top)
    console.print(table)
    console.print(
        "[dim]points: critical 25, high 10, medium 4, low 1; one rule adds at most "
        "twice its worst finding; capped at 100 (--explain KEY shows the sum)[/]"
    )


def _explain(entry: PostureEntry) -> None:
    console.print(
        f"[bold]{entry.by} {entry.key}[/]: score {entry.score} ({entry.grade}), "
        f"{entry.findings} live finding(s)"
    )
    for line in entry.explanation():
        console.print(f"  {line}")


def worker(
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    ticks: Annotated[int | None, typer.Option(help="stop after N passes", min=1)] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run evaluations and due workflows periodically (safe to run several at once).

    Example: charter worker --once
    """
    services = get_services()
    runner = services.governance.worker()

    def report(result: dict[str, Any]) -> None:
        if json_out:
            emit_json(result)
            return
        for job, outcome in result.items():
            if not isinstance(outcome, dict):
                console.print(f"[dim]{job}: {outcome}[/]")
                continue
            done = {k: v for k, v in outcome.items() if v not in ([], 0, {}, None, False)}
            console.print(
                f"[bold]{job}[/]: " + (json.dumps(done, default=str) if done else "nothing to do")
            )

    with cli_errors():
        if once:
            report(runner.run_once())
            return
        console.print(f"worker {runner.holder} started (Ctrl-C stops it)")
        try:
            runner.run(ticks=ticks, on_pass=report)
        except KeyboardInterrupt:  # pragma: no cover - interactive
            console.print("stopped")


def decommission(
    name: str,
    plan: Annotated[
        bool, typer.Option("--plan", help="show what would be revoked; change nothing")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="why (recorded); required to apply")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decommission an agent: revoke what Charter controls, file tasks for the rest. Final.

    Example: charter agent decommission support-summarizer --plan
    Example: charter agent decommission support-summarizer --reason "retired"
    """
    service = get_services().governance.decommission
    with cli_errors():
        if plan or reason is None:
            shown = service.plan(name)
            if json_out:
                emit_json(shown.to_dict())
                return
            workflows.print_decommission(shown.to_dict(), applied=False)
            if not plan:
                console.print("[yellow]nothing changed:[/] add --reason TEXT to apply")
                raise typer.Exit(2)
            return
        result = service.apply(name, actor=actor(), reason=reason)
    if json_out:
        emit_json(result.to_dict())
        return
    workflows.print_decommission(result.to_dict(), applied=True)


def accept(
    name: str,
    by: Annotated[str | None, typer.Option(help="the pending owner")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Take over an agent whose owner left (you are its pending owner).

    Example: charter agent accept release-notes-writer --by ada.osei@acme.example
    """
    with cli_errors():
        agent = get_services().governance.departures.accept(name, by=person(by), actor=actor())
    if json_out:
        emit_json(agent_cli.agent_json(agent))
        return
    hint = ""
    if agent.state == "suspended":
        hint = f" — it is suspended: 'charter agent resume {agent.name}' when it should run again"
    elif agent.state != "active":
        hint = f" — it is {agent.state}"
    console.print(f"{agent.name} is now owned by {agent.owner}{hint}")


def register(app: typer.Typer) -> None:
    """Mount the governance commands on ``charter`` and ``charter agent``."""
    app.add_typer(findings_app, name="findings")
    app.command("posture")(posture)
    app.command("worker")(worker)
    workflows.register(app)
    agent_cli.app.command("decommission")(decommission)
    agent_cli.app.command("accept")(accept)


__all__ = ["register"]
