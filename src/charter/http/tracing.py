"""OpenTelemetry traces, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

The SDK and its OTLP/HTTP exporter are the optional extra ``charter[otel]``. The
exporter reads the standard ``OTEL_*`` variables itself (endpoint, headers,
timeout); spans are sent in batches from a background thread, so a slow
collector delays no request. With the variable set but the extra missing,
:func:`configure` raises :class:`~charter.errors.InvalidInput` naming both: the
operator asked for traces, and silently having none is the wrong answer.
"""

from __future__ import annotations

import os
from typing import Any

from charter.errors import InvalidInput

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"

_tracer: Any = None
_provider: Any = None


def tracer() -> Any:
    """The tracer spans are started with, or None when tracing is off (the usual case)."""
    return _tracer


def wanted() -> bool:
    return bool(os.environ.get(ENDPOINT_ENV) or os.environ.get(TRACES_ENDPOINT_ENV))


def configure(service_name: str) -> bool:
    """Turn tracing on for this process if the environment asks for it; True if it is on."""
    global _tracer, _provider
    if not wanted():
        return False
    if _tracer is not None:
        return True
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise InvalidInput(
            f"{ENDPOINT_ENV} is set but the OpenTelemetry SDK is not installed "
            f"(pip install 'charter[otel]'): {exc.name}",
            field=ENDPOINT_ENV,
        ) from exc
    from charter.version import __version__

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    resource = Resource.create({"service.name": name, "service.version": __version__})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("charter")
    return True


def shutdown() -> None:
    """Send the spans still buffered (at a clean shutdown); tracing is off afterwards."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


__all__ = ["configure", "shutdown", "tracer", "wanted"]
