"""Prometheus metrics: what a process counts, and the registry a scrape reads.

Two kinds, by cost:

* **Off the hot path.** Decisions are counted by the activity writer thread, as it
  writes the batch it already holds (:class:`DecisionTally`), and exported by a
  custom collector at scrape time: an in-process decision pays nothing for its
  metrics (the counts trail the decisions by the writer's interval, 0.2 s).
  Allows the recorder sampled out or shed are added from its own counters.
* **Per request or per use case.** HTTP request latency, token issuances and
  refusals, gateway calls, ingest and evaluation durations use ordinary
  ``prometheus_client`` counters and histograms (about 1 µs each, against
  requests that take tens of µs or more).

Labels are bounded: a decision's reason is its first reason's code (a closed
enum), an endpoint is a fixed kind, an upstream is a configured name.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from charter.domain.decision import Decision

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

#: Upper bounds of the decision latency buckets, in seconds (in-process evaluation).
DECISION_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2)
_BUCKETS_US = tuple(bound * 1e6 for bound in DECISION_BUCKETS)
#: HTTP request latency buckets, in seconds.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
#: Ingest and evaluation runs: seconds to minutes.
RUN_BUCKETS = (0.01, 0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)

REQUESTS = Histogram(
    "charter_request_duration_seconds",
    "HTTP request latency by endpoint kind (authzen: decisions, token: the token endpoint)",
    ["endpoint"],
    buckets=REQUEST_BUCKETS,
    registry=None,
)
TOKENS_ISSUED = Counter(
    "charter_tokens_issued",
    "Access tokens issued, by grant type",
    ["grant_type"],
    registry=None,
)
TOKENS_REFUSED = Counter(
    "charter_token_refusals",
    "Token requests refused, by OAuth error code",
    ["error"],
    registry=None,
)
GATEWAY_CALLS = Counter(
    "charter_gateway_calls",
    "Gateway calls forwarded to an upstream, by upstream and outcome (ok, upstream_error, cut)",
    ["upstream", "outcome"],
    registry=None,
)
GATEWAY_REFUSALS = Counter(
    "charter_gateway_refusals",
    "Gateway calls refused before reaching an upstream, by reason (denied, rate_limited)",
    ["reason"],
    registry=None,
)
INGEST_SECONDS = Histogram(
    "charter_ingest_duration_seconds",
    "Estate ingest runs (fetch, normalize, reconcile), by source",
    ["source"],
    buckets=RUN_BUCKETS,
    registry=None,
)
EVALUATION_SECONDS = Histogram(
    "charter_evaluation_duration_seconds",
    "Finding evaluation runs over the estate",
    buckets=RUN_BUCKETS,
    registry=None,
)
STATIC: tuple[Collector, ...] = (
    REQUESTS,
    TOKENS_ISSUED,
    TOKENS_REFUSED,
    GATEWAY_CALLS,
    GATEWAY_REFUSALS,
    INGEST_SECONDS,
    EVALUATION_SECONDS,
)


class DecisionTally:
    """Decisions by result and reason, and their latency, counted in plain ints.

    Fed by the activity writer thread (:meth:`add`), read by the collector at scrape
    time (:meth:`counts`); a lock keeps a scrape from seeing half a batch.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._buckets = [0] * (len(_BUCKETS_US) + 1)
        self._latency_sum_us = 0.0

    def add(self, decisions: Iterable[tuple[Decision, float | None]]) -> None:
        counts: dict[tuple[str, str], int] = {}
        buckets = [0] * len(self._buckets)
        total = 0.0
        for decision, latency_us in decisions:
            key = _label(decision)
            counts[key] = counts.get(key, 0) + 1
            if latency_us is not None:
                buckets[bisect.bisect_left(_BUCKETS_US, latency_us)] += 1
                total += latency_us
        with self._lock:
            for key, n in counts.items():
                self._counts[key] = self._counts.get(key, 0) + n
            for index, n in enumerate(buckets):
                self._buckets[index] += n
            self._latency_sum_us += total

    def counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def latency(self) -> tuple[list[int], float]:
        """Per-bucket (not cumulative) counts, the last one above every bound; the sum in µs."""
        with self._lock:
            return list(self._buckets), self._latency_sum_us


def _label(decision: Decision) -> tuple[str, str]:
    if decision.allowed:
        return ("allow", "allowed")
    reasons = decision.reasons
    return ("deny", str(reasons[0].code.value) if reasons else "unspecified")


class MetricsSource(Protocol):
    """What the process collector reads from the services (see :class:`ProcessCollector`)."""

    def decision_tally(self) -> DecisionTally: ...

    def allows_not_written(self) -> int: ...

    def activity_backlog(self) -> int: ...

    def snapshot_age(self) -> float | None: ...


class ProcessCollector(Collector):
    """Read at scrape time: the decision tally, the activity backlog, the snapshot's age."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        source = self._source
        decisions = CounterMetricFamily(
            "charter_decisions",
            "Decisions recorded, by result (allow, deny) and reason (the first deny reason's code)",
            labels=["result", "reason"],
        )
        counts = source.decision_tally().counts()
        unwritten = source.allows_not_written()  # sampled out or shed allows: still decided
        if unwritten:
            counts[("allow", "allowed")] = counts.get(("allow", "allowed"), 0) + unwritten
        for (result, reason), n in sorted(counts.items()):
            decisions.add_metric([result, reason], n)
        yield decisions
        per_bucket, sum_us = source.decision_tally().latency()
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*DECISION_BUCKETS, float("inf")), per_bucket, strict=True):
            running += n
            cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
        latency = HistogramMetricFamily(
            "charter_decision_duration_seconds",
            "In-process decision evaluation time (charter.decide, the gateway, the console tester)",
        )
        latency.add_metric([], cumulative, sum_us / 1e6)
        yield latency
        yield GaugeMetricFamily(
            "charter_activity_backlog",
            "Decisions waiting to be written to the activity log",
            value=source.activity_backlog(),
        )
        age = source.snapshot_age()
        if age is not None:
            yield GaugeMetricFamily(
                "charter_decision_snapshot_age_seconds",
                "Seconds since the compiled decision snapshot was last loaded or found current",
                value=age,
            )


def registry_for(source: MetricsSource | None) -> CollectorRegistry:
    """A registry with the process-wide metrics, and ``source``'s when there is one."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in STATIC:
        registry.register(collector)
    if source is not None:
        registry.register(ProcessCollector(source))
    return registry


__all__ = [
    "DECISION_BUCKETS",
    "EVALUATION_SECONDS",
    "GATEWAY_CALLS",
    "GATEWAY_REFUSALS",
    "INGEST_SECONDS",
    "REQUESTS",
    "TOKENS_ISSUED",
    "TOKENS_REFUSED",
    "DecisionTally",
    "MetricsSource",
    "ProcessCollector",
    "registry_for",
]
