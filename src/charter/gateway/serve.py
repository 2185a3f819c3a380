"""Running a gateway: choose the authority, check the config, serve HTTP or stdio.

``CHARTER_URL`` set → the remote authority (decisions and token checks over
HTTP, authenticated with the PEP key in ``CHARTER_PEP_KEY``); otherwise the
in-process one over ``CHARTER_HOME`` / ``CHARTER_DATABASE_URL``. Every
credential reference in the config is resolved once before serving, so a
missing secret stops the start with the field named rather than surfacing as
a broken upstream later.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio

from charter.config import proxy_options
from charter.errors import InvalidInput
from charter.gateway.authority import AgentPrincipal, AuthFailure, Authority, Presented, Scheme
from charter.gateway.config import GatewayConfig
from charter.gateway.refusals import not_authenticated
from charter.gateway.secrets import Secrets
from charter.gateway.server import Gateway

logger = logging.getLogger("charter.gateway")

TOKEN_ENV = "CHARTER_ACCESS_TOKEN"  # noqa: S105 - a variable name, not a secret


def default_resource(host: str, port: int) -> str:
    """``http://<host>:<port>/mcp``; a wildcard bind address is named as loopback."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - naming, not binding
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/mcp"


def check_secrets(config: GatewayConfig, secrets: Secrets) -> None:
    """Resolve every reference once (values are discarded) so a missing one fails the start."""
    for upstream in config.upstreams:
        if upstream.stdio is not None:
            secrets.resolve_all(upstream.stdio.env, field=f"upstreams.{upstream.name}.stdio.env")
        if upstream.http is not None:
            field = f"upstreams.{upstream.name}.http.headers"
            for name, value in secrets.resolve_all(upstream.http.headers, field=field).items():
                if any(character in value for character in "\r\n\0"):
                    raise InvalidInput(
                        f"the value of {field}.{name} holds a CR, LF or NUL",
                        field=f"{field}.{name}",
                    )


def build_authority(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> Authority:
    env = os.environ if environ is None else environ
    servers = list(config.gateway.authorization_servers)
    url = env.get("CHARTER_URL")
    if url:
        from charter.gateway.remote import RemoteAuthority

        for name, what in (
            ("CHARTER_PEP_KEY", "a PEP key ('charter pep add NAME')"),
            ("CHARTER_API_TOKEN", "an auditor API token ('charter api-tokens')"),
        ):
            if not env.get(name):
                raise InvalidInput(
                    "CHARTER_URL is set, so the gateway asks that server; "
                    f"it needs {what} in {name}",
                    field=name,
                )

        return RemoteAuthority(
            url,
            pep_key=env.get("CHARTER_PEP_KEY"),
            api_token=env.get("CHARTER_API_TOKEN"),
            authorization_servers=servers or [url.rstrip("/")],
        )
    from charter.gateway.local import LocalAuthority
    from charter.services.context import process_services

    return LocalAuthority(process_services(), authorization_servers=servers or None)


def build_gateway(
    config: GatewayConfig, *, resource: str, authority: Authority | None = None
) -> Gateway:
    secrets = Secrets.load(config)
    check_secrets(config, secrets)
    return Gateway(
        config,
        authority or build_authority(config),
        resource=resource,
        secrets=secrets,
        errlog=sys.stderr,
    )


async def _close(authority: Authority) -> None:
    with anyio.CancelScope(shield=True):
        await authority.aclose()


def run_http(
    gateway: Gateway,
    host: str,
    port: int,
    log_level: str = "warning",
    *,
    proxies: tuple[str, ...] = (),
    log_config: dict[str, Any] | None = None,
) -> None:
    """Serve over HTTP; ``X-Forwarded-For`` (``source_ip``) is believed only from ``proxies``."""
    import uvicorn

    app = gateway.http_app(host)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            lifespan="on",
            log_config=log_config if log_config is not None else uvicorn.config.LOGGING_CONFIG,
            **proxy_options(proxies),
        )
    )

    async def main() -> None:
        try:
            await server.serve()
        finally:
            await _close(gateway.authority)

    anyio.run(main, backend_options={"use_uvloop": True})


def token_source(
    token_file: Path | None, environ: Mapping[str, str] | None = None
) -> Callable[[], str]:
    """Where a stdio gateway reads the agent's access token: a file
    (re-read when it changes) or env.
    """
    env = os.environ if environ is None else environ
    if token_file is None:
        token = env.get(TOKEN_ENV, "").strip()
        if not token:
            raise InvalidInput(
                f"stdio mode needs the agent's access token in {TOKEN_ENV} or --token-file",
                field="token",
            )
        return lambda: token
    cache: dict[str, object] = {}

    def read() -> str:
        try:
            stamp = token_file.stat().st_mtime_ns
        except OSError as exc:
            raise InvalidInput(
                f"cannot read {token_file}: {exc.strerror}", field="token_file"
            ) from exc
        if cache.get("stamp") != stamp:
            cache["token"] = token_file.read_text(encoding="utf-8").strip()
            cache["stamp"] = stamp
        return str(cache["token"])

    read()
    return read


def run_stdio(gateway: Gateway, token: Callable[[], str]) -> None:
    """Serve one agent on stdin/stdout; its token is checked on every request."""

    async def authenticate() -> AgentPrincipal:
        try:
            presented = Presented(Scheme.BEARER, token(), None, "POST", gateway.resource)
            return await gateway.authority.authenticate(presented, gateway.resource)
        except (AuthFailure, InvalidInput) as failure:
            detail = failure.description if isinstance(failure, AuthFailure) else failure.message
            raise not_authenticated(detail) from None

    async def main() -> None:
        try:
            await gateway.serve_stdio(authenticate)
        finally:
            await _close(gateway.authority)

    anyio.run(main)
