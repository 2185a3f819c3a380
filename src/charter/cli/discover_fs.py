"""``charter discover fs PATH...``: secrets, MCP servers and agent code on disk.

Parse, call the scanner, record, format — nothing else. The scan writes
nothing; only after it completed are its results reconciled into the store
(one transaction per scanned root), so an interrupted or failed scan leaves
the store as it was. Exit status: 0 clean, 1 new findings, 2 usage errors.

The store and its services are imported only when results are recorded: a
pre-commit hook or a ``--no-record`` pipeline run starts in a fraction of the
time the services take to import.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from charter.cli.conventions import JSON_HELP
from charter.cli.tables import listing, numeric
from charter.discovery.scan import (
    DEFAULT_MAX_FILE_SIZE,
    ScanOptions,
    ScanReport,
    load_baseline,
    run_scan,
)
from charter.discovery.scan.kinds import BaselineState
from charter.discovery.scan.sarif import to_sarif
from charter.domain.enums import Severity
from charter.errors import CharterError

# As charter.cli.runtime sets them up (piped output gets a readable width), without
# importing the services that module pulls in.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "140"))
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


class Engine(StrEnum):
    HYPERSCAN = "hyperscan"
    RE2 = "re2"
    RE = "re"


def parse_size(text: str) -> int:
    """``100MB``, ``512k``, ``1GiB``, ``1048576`` → bytes (binary multiples)."""
    match = _SIZE.match(text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a size such as 25MB, 512k or 1GiB")
    number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * 1024 ** "kmgt".index(unit) * 1024) if unit else int(number)
    if size < 1:
        raise typer.BadParameter("the size must be at least one byte")
    return size


def register(app: typer.Typer) -> None:
    """Mount ``fs`` on ``charter discover``."""
    app.command("fs")(fs)


def fs(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="files or directories to scan (default: .)")
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, json or sarif")
    ] = OutputFormat.TABLE,
    json_out: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the report to this file")
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="also scan every commit of git repositories")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="processes to scan with")] = 1,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="a previous --format json report: only new findings fail"),
    ] = None,
    pre_commit: Annotated[
        bool,
        typer.Option("--pre-commit", help="scan what is staged for commit (a git hook); no store"),
    ] = False,
    max_file_size: Annotated[
        str, typer.Option("--max-file-size", help="skip larger files (e.g. 25MB, 1GiB)")
    ] = f"{DEFAULT_MAX_FILE_SIZE // 1024 // 1024}MB",
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="record results in the store")
    ] = True,
    engine: Annotated[
        Engine | None, typer.Option("--engine", help="prefilter engine (default: fastest)")
    ] = None,
) -> None:
    """Find secrets, MCP client configs and agent code in files, folders and git history.

    Example: charter discover fs examples/workstation
    Example: charter discover fs . --history --no-record --format sarif --output charter.sarif
    """
    if json_out:
        output_format = OutputFormat.JSON
    size_limit = parse_size(max_file_size)
    try:
        known = load_baseline(baseline) if baseline else frozenset()
    except CharterError as exc:
        raise fail(str(exc)) from None
    options = ScanOptions(
        max_file_size=size_limit,
        jobs=jobs,
        history=history,
        pre_commit=pre_commit,
        engine=str(engine) if engine else None,
        baseline=known,
    )
    targets = [str(p) for p in paths] if paths else ["."]
    recording = record and not pre_commit
    if recording:
        options = dataclasses.replace(options, project_dirs=_recorded_projects())
    report = _scan(targets, options, show_progress=err_console.is_terminal and not pre_commit)
    recorded = _record(report) if recording and report.roots else []
    _emit(report, output_format, output, recorded)
    if not report.roots:
        raise fail("nothing to scan: " + "; ".join(f"{p.path}: {p.kind}" for p in report.problems))
    raise typer.Exit(1 if report.new_findings else 0)


def fail(message: str, *, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    return typer.Exit(code)


def _recorded_projects() -> frozenset[str]:
    """Project directories earlier scans recorded: they stay projects in this scan."""
    from charter.cli.runtime import cli_errors, get_services

    with cli_errors():
        return get_services().scans.project_dirs()


def _record(report: ScanReport) -> list[dict[str, Any]]:
    """Reconcile each scanned root into the store: one transaction per root."""
    from charter.cli.runtime import actor, cli_errors, get_services

    with cli_errors():
        return get_services().scans.record(report, actor=actor())


def _scan(targets: list[str], options: ScanOptions, *, show_progress: bool) -> ScanReport:
    if not show_progress:
        return run_scan(targets, options)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]scanning"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("scan", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run_scan(targets, options, advance)


def _emit(
    report: ScanReport, output_format: OutputFormat, output: Path | None, recorded: list[Any]
) -> None:
    if output_format is OutputFormat.TABLE:
        if output is None:
            render(report, console, recorded)
            return
        with _open(output) as handle:
            render(report, Console(file=handle, width=140, no_color=True), recorded)
        return
    document = report.to_json() if output_format is OutputFormat.JSON else to_sarif(report)
    if output_format is OutputFormat.JSON and recorded:
        document["recorded"] = recorded
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    with _open(output) as handle:
        handle.write(text)
    summary = report.summary()
    err_console.print(
        f"wrote {output_format} to {output}: {summary['findings']} finding(s), "
        f"{summary['new']} new, {summary['candidate_agents']} candidate agent(s)"
    )


def _open(path: Path) -> Any:
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror}") from None


# -- the table ---------------------------------------------------------------------------
def render(report: ScanReport, out: Console, recorded: list[Any] | None = None) -> None:
    """The human summary: findings, providers, locations, MCP servers, agents, skips."""
    summary = report.summary()
    out.print(
        f"[bold]Scanned[/] {len(report.roots)} path(s): {summary['files_scanned']} files, "
        f"{report.bytes_scanned / 1e6:.1f} MB in {report.seconds:.2f} s "
        f"({report.megabytes_per_second:.0f} MB/s; {report.engine}; {report.jobs} job(s))"
        + (f"; {report.commits_scanned} commits" if report.commits_scanned else "")
    )
    _findings(report, out)
    _servers(report, out)
    _projects(report, out)
    _skips_and_problems(report, out)
    for result in recorded or []:
        credentials, identities = result["credentials"], result["identities"]
        out.print(
            f"[dim]recorded {result['account']}: credentials {credentials['created']} new, "
            f"{credentials['updated']} updated, {credentials['unchanged']} unchanged, "
            f"{credentials['gone']} gone; identities {identities['created']} new, "
            f"{identities['updated'] + identities['unchanged']} known, "
            f"{identities['gone']} gone[/]"
        )
    new, total = summary["new"], summary["findings"]
    verdict = "[bold red]" if new else "[bold green]"
    out.print(
        f"{verdict}{new} new finding(s)[/] of {total}"
        + (f", {summary['baselined']} in the baseline" if summary["baselined"] else "")
        + (f", {report.allowed} allowed" if report.allowed else "")
        + f"; {summary['candidate_agents']} candidate agent(s)."
    )


def _findings(report: ScanReport, out: Console) -> None:
    if not report.findings:
        out.print("[green]No secrets found.[/]")
        return
    table = listing(
        "severity", "provider", "type", "preview", "location", "status", title="Credentials found"
    )
    for finding in report.findings:
        status = "new" if finding.baseline is BaselineState.NEW else "baseline"
        origin = "" if finding.origin == "file" else f" ({finding.origin})"
        if agent := finding.properties.get("charter_agent"):
            origin += f" (Charter-enrolled key for agent {agent}, keep it private)"
        table.add_row(
            f"[{_STYLE[finding.severity]}]{finding.severity}[/]",
            finding.rule.provider,
            finding.rule.title,
            finding.preview,
            _where(report, finding.root, finding.location) + origin,
            status,
        )
    out.print(table)
    by_provider = Counter(f.rule.provider for f in report.findings)
    by_location = Counter(
        _where(report, f.root, f.path.split("/", 1)[0] if "/" in f.path else f.path)
        for f in report.findings
    )
    counts = listing(
        "provider",
        numeric("findings"),
        "location",
        numeric("findings"),
        title="By provider and location",
    )
    providers, locations = by_provider.most_common(), by_location.most_common(len(by_provider))
    for i in range(max(len(providers), len(locations))):
        p = providers[i] if i < len(providers) else ("", "")
        loc = locations[i] if i < len(locations) else ("", "")
        counts.add_row(p[0], str(p[1]), loc[0], str(loc[1]))
    out.print(counts)


def _where(report: ScanReport, root: int, path: str) -> str:
    if len(report.roots) < 2:
        return path
    return f"{report.roots[root].given.rstrip('/')}/{path}"


def _servers(report: ScanReport, out: Console) -> None:
    if not report.servers:
        return
    table = listing(
        "client",
        "server",
        "transport",
        "command / URL",
        "env / headers",
        "inline",
        title="MCP servers",
    )
    for root, server in report.servers:
        names = [*server.env, *(f"header {h}" for h in server.headers)]
        inline = ", ".join(s.preview for s in server.inline_secrets)
        table.add_row(
            str(server.client),
            f"{server.name}\n[dim]{_where(report, root, server.config)}[/]",
            str(server.transport),
            server.command or server.url or "",
            ", ".join(names),
            f"[red]{inline}[/]" if inline else "",
        )
    out.print(table)


def _projects(report: ScanReport, out: Console) -> None:
    ai = [p for p in report.projects if p.ai_related or p.mcp_servers]
    if not ai:
        return
    table = listing(
        "project", "frameworks and SDKs", "systems", "credentials", "agent?", title="Agent code"
    )
    for project in ai:
        sdks = sorted(project.frameworks | project.mcp_sdks | project.model_sdks)
        credentials = sorted(project.credential_env)
        if project.secrets:
            credentials.insert(0, f"{len(project.secrets)} secret(s) in files")
        table.add_row(
            _where(report, project.root, project.path),
            ", ".join(sdks),
            ", ".join(sorted(project.systems | project.secret_systems)),
            ", ".join(credentials[:6]) + (" …" if len(credentials) > 6 else ""),
            "[bold magenta]candidate[/]" if project.candidate_agent else "",
        )
    out.print(table)


def _skips_and_problems(report: ScanReport, out: Console) -> None:
    skipped = report.skipped_by_reason()
    if skipped:
        parts = []
        for reason, count in skipped.items():
            examples = [s.relative for s in report.skipped if s.reason == reason][:3]
            parts.append(f"{reason} {count} ({', '.join(examples)}{', …' if count > 3 else ''})")
        out.print("[dim]skipped: " + "; ".join(parts) + "[/]")
    for problem in report.problems[:20]:
        where = problem.path if problem.root is None else _where(report, problem.root, problem.path)
        out.print(
            f"[yellow]problem:[/] {where}: {problem.kind}"
            + (f" — {problem.detail}" if problem.detail else "")
        )
    if len(report.problems) > 20:
        out.print(f"[yellow]… and {len(report.problems) - 20} more problems (see --format json)[/]")


if (
    __name__ == "__main__"
):  # until ``charter discover`` mounts it: python -m charter.cli.discover_fs
    standalone = typer.Typer(pretty_exceptions_enable=False)
    standalone.command()(fs)
    standalone()
