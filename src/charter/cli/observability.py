"""What ``charter serve`` and ``charter gateway`` share about being watched: logs, metrics, traces.

Checked before the banner, so a bad value is exit 2 naming the option and
nothing starts: the log format, a metrics port that cannot work with several
workers (each would need its own), and ``OTEL_EXPORTER_OTLP_ENDPOINT`` without the
``otel`` extra installed.
"""

from __future__ import annotations

import os
from typing import Any

from charter.errors import InvalidInput
from charter.http import tracing
from charter.http.logs import FORMAT_ENV, configure_logging, log_format
from charter.http.metrics_port import HOST_ENV, PORT_ENV, metrics_address


def prepare_observability(
    fmt: str | None,
    level: str,
    metrics_port: int | None,
    metrics_host: str,
    *,
    workers: int = 1,
) -> dict[str, Any]:
    """Validate and apply the options; returns uvicorn's ``log_config``."""
    chosen = log_format(fmt)
    if metrics_port is not None:
        if metrics_port > 65535:
            raise InvalidInput("--metrics-port must be at most 65535", field="metrics_port")
        if workers > 1:
            raise InvalidInput(
                "--metrics-port serves one process's metrics: run one worker per replica "
                "(--workers 1) and scale replicas instead",
                field="metrics_port",
            )
        # the app reads these in the worker that builds it (uvicorn's factory)
        os.environ[PORT_ENV] = str(metrics_port)
        os.environ[HOST_ENV] = metrics_host
    metrics_address()  # a bad CHARTER_METRICS_PORT from the environment: refused here
    if tracing.wanted():
        tracing.configure("charter")  # raises naming the variable when the extra is missing
        tracing.shutdown()  # each process that serves configures its own
    os.environ[FORMAT_ENV] = chosen.value  # workers log in the same format
    return configure_logging(chosen, level)


__all__ = ["prepare_observability"]
