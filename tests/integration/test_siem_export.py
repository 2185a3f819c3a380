"""SIEM export on SQLite and PostgreSQL: recorded decisions and findings become OCSF events
(Authorize Session 3003, IAM Analysis Finding 2008) with the ``ai_agent`` object, to a
JSON-lines file or a real HTTP endpoint, in batches, each exported exactly once."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support import governance_seed as seed

from charter.domain import siem_ocsf
from charter.domain.audit import canonical_json
from charter.domain.governance.policy import parse_policy
from charter.errors import CharterError, InvalidInput
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.siem import FileSink, HttpSink, sink_for
from charter.store import schema


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Services:
    seed.seed_people_and_agents(services)
    services.reconcile.apply(seed.aws_batch(clock.now()), actor="test")
    services.reconcile.apply(seed.fs_batch(), actor="test")
    now = clock.now()
    seed.add_activity(services, seed.uses("summarizer", "tickets.read", "zendesk:tickets/1", now))
    seed.add_activity(
        services,
        [
            {
                "time": now,
                "agent": "summarizer",
                "on_behalf_of": "ada@acme.example",
                "action": "tickets.delete",
                "resource": "zendesk:tickets/2",
                "allowed": False,
                "reasons": ["explicit_deny"],
            }
        ],
    )
    services.governance.evaluation.evaluate(actor="test")
    return services


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_decisions_and_findings_to_a_file_once_each(estate: Services, tmp_path: Path) -> None:
    out = tmp_path / "ocsf.jsonl"
    done = estate.siem.export(FileSink(out), batch=1)
    events = _lines(out)
    assert done.decisions == 2 and done.findings > 0
    assert len(events) == done.decisions + done.findings
    assert all(siem_ocsf.problems(e) == [] for e in events)
    decisions = [e for e in events if e["class_uid"] == 3003]
    allowed, denied = decisions
    assert (allowed["status_id"], allowed["type_uid"]) == (1, 300301)
    assert (denied["status_id"], denied["status"], denied["status_detail"]) == (
        2,
        "Failure",
        "explicit_deny",
    )
    assert denied["actor"]["user"]["uid"] == "ada@acme.example"
    agent = allowed["ai_agent"]
    document = estate.registry.get("summarizer")
    assert agent["uid"] == "summarizer" and agent["version"] == str(document.charter_version)
    with estate.db.read() as connection:
        stored = connection.execute(
            sa.select(schema.charter_versions.c.document).where(
                schema.charter_versions.c.agent == "summarizer",
                schema.charter_versions.c.version == document.charter_version,
            )
        ).scalar_one()
    assert agent["hash"]["value"] == hashlib.sha256(canonical_json(stored).encode()).hexdigest()
    findings = [e for e in events if e["class_uid"] == 2008]
    assert {e["category_uid"] for e in findings} == {2}
    assert all(e["type_uid"] == 200800 + e["activity_id"] for e in findings)
    # a second run has nothing new; a new decision is the only thing the third one writes
    assert estate.siem.export(FileSink(out)).decisions == 0
    seed.add_activity(
        estate, seed.uses("summarizer", "tickets.read", "zendesk:tickets/3", estate.clock.now())
    )
    again = estate.siem.export(FileSink(out))
    assert (again.decisions, again.findings) == (1, 0)
    assert len(_lines(out)) == len(events) + 1
    assert oct(out.stat().st_mode & 0o777) == "0o600"


class _Collector:
    def __init__(self, fail: bool) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if fail or self.headers.get("Authorization") != "Splunk token-1":
                    self.send_response(503)
                else:
                    collector.batches.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/collect"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collector() -> Iterator[_Collector]:
    peer = _Collector(fail=False)
    yield peer
    peer.server.shutdown()


def test_batches_to_an_http_endpoint_and_a_failed_batch_is_retried(
    estate: Services, collector: _Collector
) -> None:
    down = _Collector(fail=True)
    try:
        with pytest.raises(CharterError):
            estate.siem.export(HttpSink(down.url, "Splunk token-1"), batch=2)
    finally:
        down.server.shutdown()
    done = estate.siem.export(HttpSink(collector.url, "Splunk token-1"), batch=2)
    sent = [e for batch in collector.batches for e in batch]
    assert all(len(batch) <= 2 for batch in collector.batches)
    assert done.decisions == 2 and len(sent) == done.decisions + done.findings


def test_targets_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as plain:
        sink_for("http://siem.acme.example/collect")
    assert plain.value.field == "to"
    with pytest.raises(InvalidInput):
        sink_for(str(tmp_path / "missing" / "out.jsonl"))
    assert isinstance(sink_for("https://siem.acme.example/collect"), HttpSink)


def test_the_worker_exports_when_the_policy_names_a_target(
    estate: Services, clock: FixedClock, tmp_path: Path
) -> None:
    out = tmp_path / "worker-ocsf.jsonl"
    policy = {"siem": {"to": str(out), "every": "5m", "batch": 100}}
    (estate.settings.home / "governance.yaml").write_text(json.dumps(policy))
    worker = estate.governance.worker()
    first = worker.run_once()
    assert first["siem"]["decisions"] == 2 and first["siem"]["findings"] > 0
    assert len(_lines(out)) == first["siem"]["decisions"] + first["siem"]["findings"]
    assert worker.run_once()["siem"] == "not due"
    seed.add_activity(estate, seed.uses("summarizer", "tickets.read", "zendesk:t/9", clock.now()))
    clock.advance(seconds=301)
    # the new decision, and whatever the evaluation of this pass changed
    assert worker.run_once()["siem"]["decisions"] == 1


@pytest.mark.parametrize(
    ("section", "field"),
    [({"authorization_env": "not an env name"}, "authorization_env"), ({"batch": 0}, "batch")],
)
def test_a_bad_siem_section_is_refused_naming_the_field(
    section: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_policy({"siem": {"to": "/tmp/x.jsonl", **section}})
    assert field in str(refused.value.field)
