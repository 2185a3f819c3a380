"""The decision tally and the scrape-time collector, the request-kind labels, the JSON log line."""

from __future__ import annotations

import json
import logging

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from charter.domain.decision import Decision, Reason, ReasonCode
from charter.http.logs import JsonFormatter
from charter.http.observe import REQUEST_ID, endpoint_kind
from charter.services.metrics import DecisionTally, registry_for

ALLOW = Decision(True, rule="charter/a/allow/0")
UNKNOWN = Decision(False, reasons=(Reason(ReasonCode.UNKNOWN_AGENT, "who?"),))
DENIED = Decision(
    False,
    reasons=(
        Reason(ReasonCode.EXPLICITLY_DENIED, "no"),
        Reason(ReasonCode.NO_MATCHING_CAPABILITY, "none"),
    ),
)


class Source:
    def __init__(self, tally: DecisionTally, unwritten: int = 0) -> None:
        self.tally, self.unwritten = tally, unwritten

    def decision_tally(self) -> DecisionTally:
        return self.tally

    def allows_not_written(self) -> int:
        return self.unwritten

    def activity_backlog(self) -> int:
        return 3

    def snapshot_age(self) -> float | None:
        return 1.5


def _scrape(source: Source) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry_for(source)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_decisions_are_counted_by_result_and_first_reason_with_unwritten_allows() -> None:
    tally = DecisionTally()
    tally.add([(ALLOW, 2.0), (UNKNOWN, 30.0), (DENIED, None), (DENIED, 3.0)])
    tally.add([(ALLOW, 0.5)])
    samples = _scrape(Source(tally, unwritten=10))
    assert samples[("charter_decisions_total", (("reason", "allowed"), ("result", "allow")))] == 12
    deny = ("charter_decisions_total", (("reason", "explicitly_denied"), ("result", "deny")))
    assert samples[deny] == 2
    unknown = ("charter_decisions_total", (("reason", "unknown_agent"), ("result", "deny")))
    assert samples[unknown] == 1
    assert samples[("charter_activity_backlog", ())] == 3
    assert samples[("charter_decision_snapshot_age_seconds", ())] == 1.5


def test_the_latency_histogram_is_cumulative_in_seconds() -> None:
    tally = DecisionTally()
    tally.add([(ALLOW, 0.5), (ALLOW, 2.0), (UNKNOWN, 30.0), (UNKNOWN, 1e9), (DENIED, None)])
    samples = _scrape(Source(tally))
    bucket = "charter_decision_duration_seconds_bucket"
    assert samples[(bucket, (("le", "1e-06"),))] == 1
    assert samples[(bucket, (("le", "2.5e-06"),))] == 2
    assert samples[(bucket, (("le", "5e-05"),))] == 3
    assert samples[(bucket, (("le", "+Inf"),))] == 4  # the one without a latency is not in it
    assert samples[("charter_decision_duration_seconds_count", ())] == 4
    assert abs(samples[("charter_decision_duration_seconds_sum", ())] - (1e9 + 32.5) / 1e6) < 1e-6


def test_paths_become_a_few_fixed_labels() -> None:
    assert endpoint_kind("/access/v1/evaluation") == "authzen"
    assert endpoint_kind("/accessible") == "console"
    assert endpoint_kind("/oauth/token") == "token"
    assert endpoint_kind("/oauth/introspect") == "console"
    assert endpoint_kind("/v1/agents/x") == "api"
    assert endpoint_kind("/mcp") == "mcp"
    assert endpoint_kind("/readyz") == "meta"
    assert endpoint_kind("/agents/" + "x" * 500) == "console"


def test_a_json_log_line_carries_the_request_id() -> None:
    record = logging.LogRecord("charter.t", logging.WARNING, __file__, 1, "a %s", ("b",), None)
    token = REQUEST_ID.set("req-9")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert line["message"] == "a b" and line["level"] == "warning"
    assert line["request_id"] == "req-9" and line["logger"] == "charter.t"
    assert line["time"].endswith("+00:00")
    outside = json.loads(JsonFormatter().format(record))
    assert outside["request_id"] == "-"
