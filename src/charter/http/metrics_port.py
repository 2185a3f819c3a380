"""The separate metrics port: scraped without credentials, so it is never the public port.

``charter serve --metrics-port`` and ``charter gateway --metrics-port`` put the
port in ``CHARTER_METRICS_PORT`` (and the address in ``CHARTER_METRICS_HOST``)
for the process that builds the app, which starts ``prometheus_client``'s own
small HTTP server on it in a daemon thread and stops it at shutdown. Bind it to
an address only the scraper reaches (a pod's port without a Service, a private
network): anyone who reaches it reads the metrics.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, start_http_server

from charter.errors import InvalidInput

PORT_ENV = "CHARTER_METRICS_PORT"
HOST_ENV = "CHARTER_METRICS_HOST"


def metrics_address() -> tuple[str, int] | None:
    """Where the environment asks for the metrics port, or None; a bad value is refused."""
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return None
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        message = f"{PORT_ENV} must be a port number (1-65535), not {raw!r}"
        raise InvalidInput(message, field=PORT_ENV)
    return os.environ.get(HOST_ENV, "").strip() or "127.0.0.1", port


def serve_metrics(registry: CollectorRegistry) -> Callable[[], None] | None:
    """Start the metrics server if asked for; returns the function that stops it."""
    address = metrics_address()
    if address is None:
        return None
    host, port = address
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


__all__ = ["HOST_ENV", "PORT_ENV", "metrics_address", "serve_metrics"]
