"""``charter what-if``: recorded activity replayed against a proposed charter, policy or roles.

Also the guard ``agent register/update`` and ``policy apply`` put before a change:
the what-if summary, and ``--yes`` asked for when the change would deny something
that happened (and was allowed) recently.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from charter.cli.conventions import CharterTyper
from charter.cli.runtime import (
    cli_errors,
    console,
    emit_json,
    err_console,
    fail,
    get_services,
    read_input_file,
)
from charter.cli.tables import listing, numeric
from charter.domain.charter_parsing import MAX_CHARTER_BYTES
from charter.domain.drafting import DEFAULT_EXPIRY_DAYS, Draft
from charter.domain.whatif import Change, WhatIfReport
from charter.domain.whatif_input import ParsedProposal, ProposalKind, parse_proposal_text
from charter.errors import InvalidInput
from charter.services.whatif import DEFAULT_DAYS, MAX_DAYS, replay_proposal

YES_HINT = "pass --yes to apply it anyway"


def guard_change(proposal: ParsedProposal, *, yes: bool, days: int = DEFAULT_DAYS) -> None:
    """Show what the change would have changed recently; ask before it denies what happened.

    Silent when the replay changes nothing. Interactive: a confirmation; otherwise exit 2
    with the summary above the one error line.
    """
    report = replay_proposal(get_services().whatif, proposal, days=days)
    if not report.newly_denied and not report.newly_allowed:
        return
    for line in report.summary_lines():
        err_console.print(escape(line), soft_wrap=True)
    if not report.denies_recent or yes:
        return
    question = f"apply it although it denies {report.newly_denied} recent calls?"
    if sys.stdin.isatty() and typer.confirm(question, default=False, err=True):
        return
    raise fail(
        f"the change would deny {report.newly_denied} calls that were allowed in the last "
        f"{days} days (see above); {YES_HINT}"
    )


def _print(report: WhatIfReport) -> None:
    console.print(
        f"what-if on [bold]{escape(report.subject)}[/]: {report.rows_in_window} calls recorded "
        f"since {report.since:%Y-%m-%d %H:%M} UTC ({report.days} days), {report.rows} of them "
        f"touched by the change ({report.distinct_requests} distinct)"
    )
    console.print(
        f"  of those, allowed now {report.allowed_now}, under the proposal "
        f"{report.allowed_proposed}: [red]{report.newly_denied} newly denied[/], "
        f"[green]{report.newly_allowed} newly allowed[/]"
    )
    if report.differs_from_recorded:
        console.print(
            f"  [yellow]{report.differs_from_recorded} calls[/] are decided otherwise than "
            "recorded even by the policy in force (it changed since, or the call's context "
            "was not recorded)"
        )
    if report.by_agent:
        table = listing("agent", numeric("newly denied"), numeric("newly allowed"))
        for name, counts in report.by_agent.items():
            table.add_row(
                escape(name),
                str(counts[Change.NEWLY_DENIED]),
                str(counts[Change.NEWLY_ALLOWED]),
            )
        console.print(table)
    if report.examples:
        table = listing("", "agent", "action", "resource", "person", numeric("calls"), "why")
        for example in report.examples:
            table.add_row(
                "[red]-[/]" if example.change is Change.NEWLY_DENIED else "[green]+[/]",
                escape(example.agent),
                escape(example.action),
                escape(example.resource),
                escape(example.on_behalf_of or ""),
                str(example.count),
                escape(example.reason),
            )
        console.print(table)


def what_if(
    file: Annotated[Path, typer.Argument(help="a proposed charter, org policy or roles file")],
    kind: Annotated[
        ProposalKind | None,
        typer.Option("--kind", help="what the file is (default: recognised from its fields)"),
    ] = None,
    days: Annotated[
        int, typer.Option("--days", min=1, max=MAX_DAYS, help="replay this many days back")
    ] = DEFAULT_DAYS,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Replay recorded activity against a proposed change, beside the policy in force.

    Lists the calls that were allowed and would be denied, and the denies that would be
    allowed, per agent, action, resource and person, with counts and examples. Records
    nothing and changes nothing.

    Example: charter what-if support-summarizer-v2.yaml --days 30
    """
    with cli_errors():
        proposal = parse_proposal_text(
            read_input_file(file, limit=MAX_CHARTER_BYTES), kind=kind, source=str(file)
        )
        report = replay_proposal(get_services().whatif, proposal, days=days)
    if json_out:
        emit_json(report.to_dict())
        return
    _print(report)


def drafted(name: str, *, days: int, owner: str | None, expires_in: int) -> Draft:
    """The draft for ``name``, its evidence summarised and its what-if shown on stderr."""
    result = get_services().drafts.draft(name, days=days, owner=owner, expires_in_days=expires_in)
    err_console.print(
        f"drafted {result.rules} rules for {escape(name)} from {result.calls} observed calls"
    )
    report = replay_proposal(
        get_services().whatif, ParsedProposal(ProposalKind.CHARTER, result.spec), days=days
    )
    for line in report.summary_lines():
        err_console.print(escape(line), soft_wrap=True)
    return result


def draft(
    name: Annotated[str, typer.Argument(help="a shadow agent, an agent or an identity")],
    days: Annotated[
        int, typer.Option("--days", min=1, max=MAX_DAYS, help="learn from this many days")
    ] = DEFAULT_DAYS,
    owner: Annotated[
        str | None, typer.Option("--owner", help="the owner (default: attribution's suggestion)")
    ] = None,
    expires_in: Annotated[
        int, typer.Option("--expires-in", min=1, max=366, help="days until the draft expires")
    ] = DEFAULT_EXPIRY_DAYS,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="write here (default: stdout)")
    ] = None,
) -> None:
    """Draft a least-privilege charter from what NAME was seen doing (review it, then register).

    The actions and resources it used (generalised where the pattern is clear), a
    schedule and argument ranges where the calls show them, an owner suggestion, an
    expiry, and a comment per rule naming its evidence.

    Example: charter draft support-triage --out support-triage.yaml
    """
    with cli_errors():
        result = drafted(name, days=days, owner=owner, expires_in=expires_in)
        if out is None:
            typer.echo(result.text, nl=False)
            return
        try:
            out.write_text(result.text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write {out}: {exc.strerror}", field="out") from None
    err_console.print(f"wrote {escape(str(out))}; next: charter agent register {escape(str(out))}")


def register(app: CharterTyper) -> None:
    app.command("what-if")(what_if)
    app.command("draft")(draft)
