"""Health, readiness, metrics, JSON logs and traces of a real charter serve (docs/operations.md)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.console import add_user, api_token
from tests.support.server import LiveServer, charter_env, free_port, live_server


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _ghost(client: httpx.Client, request_id: str = "") -> httpx.Response:
    body = {
        "subject": {"type": "agent", "id": "ghost"},
        "action": {"name": "read"},
        "resource": {"type": "github", "id": "acme/repo"},
    }
    headers = {"X-Request-ID": request_id} if request_id else {}
    return client.post("/access/v1/evaluation", json=body, headers=headers)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, int]]:
    home = tmp_path_factory.mktemp("ops")
    metrics_port = free_port()
    env = charter_env(home)
    args = ("--metrics-port", str(metrics_port), "--log-format", "json", "--log-level", "debug")
    with live_server(env, *args) as server:
        yield server, metrics_port


def test_healthz_and_readyz_are_open_and_say_why(served: tuple[LiveServer, int]) -> None:
    server, _ = served
    with server.anonymous_client() as anonymous:
        assert anonymous.get("/healthz").json()["status"] == "ok"
        ready = anonymous.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"store", "migrations", "decision_snapshot"}
    assert all(check["ok"] for check in body["checks"].values())


def test_metrics_need_an_admin_on_the_public_port(served: tuple[LiveServer, int]) -> None:
    server, _ = served
    with server.anonymous_client() as anonymous:
        refused = anonymous.get("/metrics")
    assert refused.status_code == 401 and "charter_" not in refused.text
    add_user(server, "auditor@ops.example", "auditor")
    auditor = api_token(server, "auditor@ops.example")
    with server.anonymous_client(headers={"Authorization": f"Bearer {auditor}"}) as client:
        assert client.get("/metrics").status_code == 403
    with server.client() as admin:
        answer = admin.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "charter_decisions_total" in answer.text


def test_decisions_and_latency_are_counted_on_the_metrics_port(
    served: tuple[LiveServer, int],
) -> None:
    server, metrics_port = served
    scrape = f"http://127.0.0.1:{metrics_port}/metrics"
    key = ("charter_decisions_total", (("reason", "unknown_agent"), ("result", "deny")))
    before = _samples(httpx.get(scrape, timeout=5).text).get(key, 0.0)
    with server.client() as client:
        for _ in range(7):
            assert _ghost(client).json()["decision"] is False
    deadline = time.monotonic() + 10
    while True:  # the activity writer counts them within its interval (0.2 s)
        samples = _samples(httpx.get(scrape, timeout=5).text)  # no credentials: its own port
        if samples.get(key, 0.0) - before >= 7 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert samples.get(key, 0.0) - before == 7
    authzen = ("charter_request_duration_seconds_count", (("endpoint", "authzen"),))
    assert samples[authzen] >= 7
    assert samples[("charter_decision_snapshot_age_seconds", ())] >= 0


def test_logs_are_json_lines_with_the_request_id(served: tuple[LiveServer, int]) -> None:
    server, _ = served
    log = Path(server.env["CHARTER_HOME"]) / f"server-{server.url.rsplit(':', 1)[1]}.log"
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines, "no JSON log line"
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message", "request_id"} <= set(record)
    records = [json.loads(line) for line in lines]
    assert any(r["logger"].startswith("uvicorn") for r in records)
    with server.client() as client:
        _ghost(client, request_id="find-me-7")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
        mine = [r for r in records if r["request_id"] == "find-me-7"]
        if mine:
            break
        time.sleep(0.1)
    assert mine and mine[0]["logger"] == "charter.access"
    assert "POST /access/v1/evaluation 200" in mine[0]["message"]


class _Receiver(BaseHTTPRequestHandler):
    posts: list[tuple[str, bytes]] = []  # noqa: RUF012 - one receiver per test process

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).posts.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_traces_reach_an_otlp_http_receiver(tmp_path: Path) -> None:
    trace_service = pytest.importorskip(
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        reason="the otel extra ('make setup' installs it)",
    )
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    env = charter_env(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="100")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        with live_server(env) as server, server.client() as client:
            traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
            client.headers["traceparent"] = traceparent
            assert _ghost(client, request_id="trace-me-1").status_code == 200
            deadline = time.monotonic() + 15
            spans = []
            while not spans and time.monotonic() < deadline:
                time.sleep(0.2)
                for path, body in list(_Receiver.posts):
                    assert path == "/v1/traces"
                    request = trace_service.ExportTraceServiceRequest.FromString(body)
                    for resource_spans in request.resource_spans:
                        for scope_spans in resource_spans.scope_spans:
                            spans.extend(scope_spans.spans)
    finally:
        receiver.shutdown()
    ours = [s for s in spans if s.trace_id.hex() == trace_id]
    assert ours, f"no span of trace {trace_id} among {len(spans)}"
    span = ours[0]
    attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
    assert span.name == "POST authzen"
    assert attributes["charter.request_id"] == "trace-me-1"
    assert attributes["http.response.status_code"] == 200
