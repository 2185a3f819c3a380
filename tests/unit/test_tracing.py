"""Tracing is off without the variable, and refuses to start without the SDK it needs."""

from __future__ import annotations

import sys

import pytest

from charter.errors import InvalidInput
from charter.http import tracing


def test_off_unless_the_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing.configure("t") is False
    assert tracing.tracer() is None


def test_asked_for_without_the_extra_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if not installed
    with pytest.raises(InvalidInput) as raised:
        tracing.configure("t")
    assert raised.value.field == "OTEL_EXPORTER_OTLP_ENDPOINT"
    assert "charter[otel]" in str(raised.value)
    assert tracing.tracer() is None
