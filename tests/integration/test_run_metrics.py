"""Ingest and finding-evaluation runs land in their duration histograms (docs/operations.md)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from tests.conftest import EXAMPLES

from charter.services.context import Services
from charter.services.metrics import EVALUATION_SECONDS, INGEST_SECONDS


def _count(name: str, labels: dict[str, str] | None = None) -> float:
    registry = CollectorRegistry()
    registry.register(INGEST_SECONDS)
    registry.register(EVALUATION_SECONDS)
    return registry.get_sample_value(name, labels or {}) or 0.0


def test_an_ingest_run_per_source_and_an_evaluation_run_are_timed(services: Services) -> None:
    okta = {"source": "okta"}
    before_okta = _count("charter_ingest_duration_seconds_count", okta)
    before_runs = _count("charter_evaluation_duration_seconds_count")
    report = services.estate.ingest.ingest_tree(EXAMPLES / "estate", actor="t")
    assert "okta" in report.files
    assert _count("charter_ingest_duration_seconds_count", okta) == before_okta + 1
    assert _count("charter_ingest_duration_seconds_sum", okta) > 0
    services.governance.evaluation.evaluate(actor="t")
    assert _count("charter_evaluation_duration_seconds_count") == before_runs + 1
