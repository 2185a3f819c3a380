"""The ``charter`` command: a root Typer app that mounts one sub-app per capability."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from typing import Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer's own click

from charter.cli import (
    access_keys,
    agent,
    approvals,
    audit,
    changes,
    decisions,
    discover,
    estate,
    gateway,
    governance,
    inbox,
    people,
    ssf,
    status,
    tokens,
    users,
    whatif,
)
from charter.cli.conventions import CharterTyper, group_by_job
from charter.cli.runtime import (
    DEBUG_ENV,
    cli_errors,
    console,
    fail,
    get_services,
    store_origin,
    unexpected,
)
from charter.config import proxy_options, trusted_proxies
from charter.domain.charter import charter_json_schema
from charter.errors import CharterError
from charter.services.tokens.service import DEFAULT_ISSUER, ISSUER_ENV
from charter.version import __version__

app = CharterTyper(
    name="charter",
    help="Charter: identity and access control for AI agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(agent.app, name="agent")
app.add_typer(people.app, name="people")
app.add_typer(audit.app, name="audit")
app.add_typer(discover.app, name="discover")

# Capabilities register their commands here, one line each: module.register(app)
# -- registrations --
users.register(app)  # console users
tokens.register(app)  # agent credentials: enroll, keys, tokens, idp
access_keys.register(app)  # personal API tokens, PEP keys (keep last: yields 'tokens')
estate.register(app)  # discover <source>/all, shadow, map
decisions.register(app)  # check, explain, policy, roles, export cedar
gateway.register(app)  # the MCP gateway
governance.register(app)  # findings, posture, review, access, rotation, worker
changes.register(app)  # proposals that widen access, approved by a second person
approvals.register(app)  # single calls held for a person's approval
status.register(app)  # the store in use and what it holds
whatif.register(app)  # what-if replay of recorded activity; charters drafted from it
inbox.register(app)  # a person's inbox: approvals, reviews, tasks, findings, notices
ssf.register(app)  # Shared Signals streams; SIEM export
# -- end registrations --

#: ``charter --help`` lists the commands by job, in this order (a new command joins a panel here).
JOBS: dict[str, tuple[str, ...]] = {
    "Registry": ("agent", "people", "changes", "approvals", "schema"),
    "Decisions": ("check", "explain", "what-if", "policy", "roles", "export"),
    "Credentials": ("keys", "tokens", "idp"),
    "Discovery": ("discover", "shadow", "draft", "map"),
    "Governance": (
        "findings",
        "posture",
        "review",
        "access",
        "rotation",
        "tasks",
        "notices",
        "inbox",
        "worker",
    ),
    "Enforcement": ("gateway", "pep"),
    "Signals": ("ssf", "siem"),
    "Console & API": ("serve", "users", "api-tokens"),
    "Store": ("status", "init", "audit", "version"),
}

LOOPBACK = "127.0.0.1"  # the metrics port's default address: never wider unless asked


def _print_version(asked: bool) -> None:
    if asked:
        console.print(__version__)
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print Charter's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Charter: identity and access control for AI agents."""


@app.command()
def version() -> None:
    """Print Charter's version.

    Example: charter version
    """
    console.print(__version__)


#: how long ``--workers`` gives a worker to answer before uvicorn replaces it as hung
WORKER_HEALTHCHECK_SECONDS = 30


def cannot_listen(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None; asked before the banner says it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                return f"port: {host}:{port} is already in use; choose another with --port"
            return f"host: cannot listen on {host}:{port} ({reason})"
    return None


@app.command()
def schema() -> None:
    """Print the JSON Schema of the charter file format.

    Example: charter schema
    """
    sys.stdout.write(json.dumps(charter_json_schema(), indent=2) + "\n")


@app.command()
def init() -> None:
    """Create (or migrate) the store; safe to run again. 'charter status' shows which one.

    Example: charter init
    """
    with cli_errors():
        services = get_services()
    console.print(f"store ready: {services.db.display_url}")
    console.print(f"chosen by: {store_origin(services.settings)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes", min=1)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="also serve /metrics on this port, without credentials", min=1),
    ] = None,
    metrics_host: Annotated[
        str | None, typer.Option(help="address of the metrics port (default: 127.0.0.1)")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="text or json (default: CHARTER_LOG_FORMAT, else text)")
    ] = None,
) -> None:
    """Serve the API (and the standard endpoints) over HTTP.

    /healthz and /readyz are open; /metrics needs an admin's API token, or use
    --metrics-port for a port of its own (docs/operations.md).

    Example: charter serve --port 8000 --metrics-port 9100 --log-format json
    """
    import uvicorn

    from charter.cli.observability import prepare_observability

    with cli_errors():
        get_services()  # migrate before the first request, and fail loudly here
        proxies = trusted_proxies()
        log_config = prepare_observability(
            log_format, log_level, metrics_port, metrics_host or LOOPBACK, workers=workers
        )
    if metrics_port == port:
        raise fail(f"metrics_port: {port} is also --port; the metrics need a port of their own")
    for where, listen_port in ((host, port), (metrics_host or LOOPBACK, metrics_port)):
        problem = cannot_listen(where, listen_port) if listen_port else None
        if problem:
            raise fail(
                problem.replace("--port", "--port" if listen_port == port else "--metrics-port")
            )
    console.print(
        f"Charter on http://{host}:{port}  (console: http://{host}:{port}/, "
        f"API docs: http://{host}:{port}/docs)"
    )
    issuer = os.environ.get(ISSUER_ENV) or DEFAULT_ISSUER
    if not os.environ.get(ISSUER_ENV) and f"http://{host}:{port}" != DEFAULT_ISSUER:
        # tokens name the issuer, and agents' assertions must be addressed to it
        console.print(
            f"[yellow]token issuer is {issuer}; set {ISSUER_ENV} to the URL agents use "
            f"(e.g. {ISSUER_ENV}=http://{host}:{port})[/yellow]"
        )
    uvicorn.run(
        "charter.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # a worker answers the supervisor's ping once it has imported Charter; uvicorn's
        # default of 5 s kills and respawns workers forever on a busy host
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        log_level=log_level,
        log_config=log_config,
        access_log=False,
        **proxy_options(proxies),
    )


def main() -> None:
    """Run the CLI; whatever goes wrong is one line on stderr and exit 2.

    Click's own errors (a bad option value, a missing argument) included: run
    outside standalone mode so they come here instead of as a framed panel.
    """
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:  # a bare 'charter GROUP': its help, as before
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except typer.TyperException as exc:  # click's usage errors
        raise SystemExit(fail(usage_error(exc)).exit_code) from None
    except typer.Abort:
        raise SystemExit(fail("aborted", code=1).exit_code) from None
    except CharterError as exc:  # raised outside a command's cli_errors()
        raise SystemExit(fail(str(exc)).exit_code) from None
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        raise SystemExit(unexpected(exc).exit_code) from None
    # a command's return value is not an exit status (standalone click ignores it too);
    # an int here is typer.Exit's code or Ctrl-C's 130
    raise SystemExit(code if isinstance(code, int) else 0)


def usage_error(exc: typer.TyperException) -> str:
    """``Invalid value for '--offset': …`` and where the help is, on one line."""
    message = " ".join(str(getattr(exc, "format_message", exc.__str__)()).split())
    context = getattr(exc, "ctx", None)
    if context is not None:
        message += f" (see '{context.command_path} --help')"
    return message


group_by_job(app, JOBS)  # after every command is defined, the root's included

if __name__ == "__main__":
    main()
