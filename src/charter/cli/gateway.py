"""``charter gateway``: run the MCP gateway that makes every tool call ask Charter first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charter.cli.runtime import cli_errors, err_console

LOOPBACK = "127.0.0.1"  # the metrics port's default address: never wider unless asked


def register(app: typer.Typer) -> None:
    app.command("gateway")(gateway)


def gateway(
    config: Annotated[Path, typer.Option("--config", help="the gateway config file (YAML/JSON)")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port", min=1, max=65535)] = 8100,
    resource: Annotated[
        str | None,
        typer.Option(
            help="this gateway's public URL (RFC 8707 audience); default http://HOST:PORT/mcp"
        ),
    ] = None,
    stdio: Annotated[
        bool, typer.Option("--stdio", help="serve one agent on stdin/stdout instead of HTTP")
    ] = False,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="stdio: file holding the agent's access token (else CHARTER_ACCESS_TOKEN)"
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="log level")] = "warning",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="serve /metrics on this port, without credentials", min=1),
    ] = None,
    metrics_host: Annotated[
        str | None, typer.Option(help="address of the metrics port (default: 127.0.0.1)")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="text or json (default: CHARTER_LOG_FORMAT, else text)")
    ] = None,
) -> None:
    """Serve MCP at /mcp: authenticate agents, decide every call, forward what is allowed.

    Decisions and token checks use CHARTER_URL when set (with CHARTER_PEP_KEY),
    else the local store (CHARTER_HOME / CHARTER_DATABASE_URL).

    /healthz and /readyz are open; metrics only on --metrics-port.

    Example: charter gateway --config examples/gateway/gateway.yaml --metrics-port 9101
    """
    from charter.cli.observability import prepare_observability
    from charter.config import trusted_proxies
    from charter.gateway.config import load_config
    from charter.gateway.serve import (
        build_gateway,
        default_resource,
        run_http,
        run_stdio,
        token_source,
    )

    with cli_errors():
        log_config = prepare_observability(
            log_format, log_level, metrics_port, metrics_host or LOOPBACK
        )
        proxies = trusted_proxies()
        loaded = load_config(config)
        target = resource or loaded.gateway.resource or default_resource(host, port)
        token = token_source(token_file) if stdio else None
        built = build_gateway(loaded, resource=target)
    names = ", ".join(upstream.name for upstream in loaded.upstreams)
    if token is not None:
        err_console.print(f"Charter MCP gateway on stdio (upstreams: {names})")
        run_stdio(built, token)
        return
    where = "remote " + built.authority.authorization_servers[0] if _remote() else "the local store"
    err_console.print(
        f"Charter MCP gateway on http://{host}:{port}/mcp — resource {target}; "
        f"upstreams: {names}; decisions from {where}"
    )
    run_http(built, host, port, log_level, proxies=proxies, log_config=log_config)


def _remote() -> bool:
    import os

    return bool(os.environ.get("CHARTER_URL"))
