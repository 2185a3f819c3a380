"""Scheduled discovery on a real store (SQLite and PostgreSQL) with real peers on loopback.

The live source is a Kubernetes API server (the connector's ``--live`` target is the
server's URL) played by a real HTTP server on 127.0.0.1 answering the recorded
responses in ``tests/fixtures/live/k8s``; it checks the bearer token, so a pull
proves the token came from the environment variable the policy names. The worker
runs on the fake clock, so "due", "period" and "backoff" are exact.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import sqlalchemy as sa
import yaml

from charter.config import Settings
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.governance import discovery_runs
from charter.services.governance.findings import FindingFilter

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "tests" / "fixtures" / "live" / "k8s"
TOKEN = "k8s-token-EXAMPLE-7d1f0c"
TOKEN_ENV = "CHARTER_TEST_K8S_TOKEN"


def _key(path: str, query: str) -> str:
    return f"{path}?{urlencode(sorted(parse_qsl(query)))}"


@dataclass
class ApiServer:
    """A Kubernetes API server on loopback: recorded answers, or failures on demand."""

    url: str
    mode: str = "ok"  # "ok" | "fail" (HTTP 500) | "garbage" (not JSON) | "echo" (401, echoes)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pulls(self) -> int:
        """How often the first page of service accounts was asked for (once per failed pull;
        a successful pull reads its pages more than once, as the connector re-iterates)."""
        with self.lock:
            return sum(1 for r in self.requests if r == "/api/v1/serviceaccounts?limit=500")


@pytest.fixture
def k8s_api() -> Iterator[ApiServer]:
    answers = {}
    for entry in json.loads((K8S / "responses.json").read_text()):
        url = urlsplit(entry["request"].split(" ", 1)[1])
        answers[_key(url.path, url.query)] = (K8S / entry["body"]).read_bytes()
    server: ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            key = _key(url.path, url.query)
            with state.lock:
                state.requests.append(key)
            if state.mode == "echo":  # a careless proxy that repeats the request's headers
                sent = str(self.headers.get("Authorization")).encode()
                self._send(401, b'{"message":"rejected ' + sent + b'"}')
            elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, b'{"kind":"Status","message":"Unauthorized","code":401}')
            elif state.mode == "fail":
                self._send(500, b'{"kind":"Status","message":"etcdserver: request timed out"}')
            elif state.mode == "garbage":
                self._send(200, b"<html>proxy error</html>")
            elif key in answers:
                self._send(200, answers[key])
            else:
                self._send(404, b'{"kind":"Status","code":404}')

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = ApiServer(f"http://localhost:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def write_policy(services: Services, home: Path, *sources: dict[str, Any], **section: Any) -> None:
    path = home / "governance.yaml"
    path.write_text(yaml.safe_dump({"discovery": {"sources": list(sources), **section}}))
    services.governance.use_policy_file(path)


def _state(services: Services, name: str) -> dict[str, Any]:
    (row,) = [s.summary() for s in services.governance.discovery.status() if s.source.name == name]
    return row


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _source_findings(services: Services, *, resolved: bool = False) -> list[Any]:
    from charter.domain.governance.finding import FindingStatus

    status = (FindingStatus.RESOLVED,) if resolved else (FindingStatus.OPEN,)
    found, _ = services.governance.findings.list(
        FindingFilter(status=status, rule="discovery-source-failing")
    )
    return found


@pytest.fixture
def second(database_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    """Another process's services on the same store and home (its own engines and holder)."""
    other = Services.from_settings(Settings(home=tmp_path, database_url=database_url), clock=clock)
    yield other
    other.close()


def test_a_watched_directory_ingests_each_new_file_once(
    services: Services, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    for name in ("personal-access-tokens.json", "installations.json"):
        shutil.copy(ROOT / "examples" / "estate" / "github" / name, exports / name)
    (exports / "notes.txt").write_text("not an export")
    write_policy(services, tmp_path, {"name": "exports", "watch": str(exports), "every": "5m"})
    worker = services.governance.worker()

    first = worker.run_once()["discovery"]["exports"]
    assert first["files"] == 2 and first["records"] > 0 and first["changes"] == first["records"]
    inventory = services.estate.inventory.identities(source="github")
    assert inventory.total > 0
    assert worker.run_once()["discovery"] == "not due"  # within the interval: not pulled

    clock.advance(seconds=301)
    hashed: list[Path] = []
    real_hash = discovery_runs.sha256_of
    monkeypatch.setattr(
        discovery_runs, "sha256_of", lambda path: hashed.append(path) or real_hash(path)
    )
    again = worker.run_once()["discovery"]["exports"]
    assert again == {"records": 0, "changes": 0, "files": 0}  # nothing new: nothing read
    assert hashed == []  # same path, size and time: not even hashed again
    (exports / "installations.json").rename(exports / "renamed.json")
    clock.advance(seconds=301)
    moved = worker.run_once()["discovery"]["exports"]
    assert moved == {"records": 0, "changes": 0, "files": 0}  # same content, new name
    assert [p.name for p in hashed] == ["renamed.json"]
    clock.advance(seconds=301)
    worker.run_once()
    assert [p.name for p in hashed] == ["renamed.json"]  # the new name was remembered

    shutil.copy(ROOT / "examples" / "estate" / "okta" / "users.json", exports / "users.json")
    shutil.copy(ROOT / "examples" / "estate" / "okta" / "apps.json", exports / "apps.json")
    clock.advance(seconds=301)
    okta = worker.run_once()["discovery"]["exports"]
    assert okta["files"] == 2 and okta["changes"] > 0  # only the new source's exports
    assert services.estate.inventory.identities(source="okta").total > 0
    state = _state(services, "exports")
    assert state["runs"] == 5 and state["health"] == "ok" and state["last_error"] is None
    assert state["records_seen"] == okta["records"] and state["changes"] == okta["changes"]

    (exports / "renamed.json").write_text(
        (exports / "renamed.json").read_text().replace("}", " }", 1)  # same data
    )
    clock.advance(seconds=301)
    changed = worker.run_once()["discovery"]["exports"]
    assert changed["files"] == 2  # github's export set again (one of its files changed)
    assert changed["changes"] == 0 and changed["records"] > 0  # same records: no changes


def test_a_live_source_is_pulled_with_the_token_its_variable_names(
    services: Services,
    tmp_path: Path,
    clock: FixedClock,
    k8s_api: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.delenv("CHARTER_K8S_TOKEN", raising=False)
    source = {"name": "prod", "live": "k8s", "target": k8s_api.url, "token_env": TOKEN_ENV}
    write_policy(services, tmp_path, {**source, "every": "1h"})
    result = services.governance.worker().run_once()
    pulled = result["discovery"]["prod"]
    assert "error" not in pulled, pulled
    assert pulled["records"] > 0 and pulled["changes"] > 0
    assert k8s_api.pulls() >= 1
    accounts = services.estate.inventory.identities(source="k8s")
    assert accounts.total > 0
    assert result["evaluate"]["evaluated"] is True  # what it found is evaluated in the pass
    state = _state(services, "prod")
    assert state["token_env"] == TOKEN_ENV and state["health"] == "ok"
    k8s_api.mode = "echo"  # an error that repeats the token is kept without it
    clock.advance(hours=1)
    echoed = services.governance.worker().run_once()["discovery"]["prod"]["error"]
    assert "HTTP 401" in echoed and "rejected Bearer [token]" in echoed
    with services.db.read() as connection:  # the token's value is nowhere in the state
        rows = connection.execute(sa.text("SELECT * FROM discovery_sources")).all()
    assert TOKEN not in repr(rows) and "[token]" in repr(rows)
    if database_url.startswith("sqlite"):
        store = Path(services.settings.database_url.split("///", 1)[1])
        for file in (store, store.with_name(store.name + "-wal")):
            assert not file.exists() or TOKEN.encode() not in file.read_bytes()


def test_failures_back_off_then_raise_a_finding_that_resolves_on_recovery(
    services: Services,
    tmp_path: Path,
    clock: FixedClock,
    k8s_api: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    k8s_api.mode = "fail"
    source = {"name": "prod", "live": "k8s", "target": k8s_api.url, "token_env": TOKEN_ENV}
    write_policy(services, tmp_path, {**source, "every": "10m"}, failures_before_finding=3)
    worker = services.governance.worker()
    delays = []
    for attempt in (1, 2, 3):
        before = clock.now()
        outcome = worker.run_once()["discovery"]["prod"]
        assert "HTTP 500" in outcome["error"] and "etcdserver" in outcome["error"]
        state = _state(services, "prod")
        assert state["consecutive_failures"] == attempt
        delay = (_at(state["next_run_at"]) - before).total_seconds()  # after the backoff
        delays.append(delay)
        assert worker.run_once().get("discovery") == "not due"  # not retried before then
        assert k8s_api.pulls() == attempt
        clock.advance(seconds=int(delay))
    assert delays == [60, 120, 240]  # a tenth of 10m, doubling
    assert _state(services, "prod")["health"] == "failing"
    (finding,) = _source_findings(services)  # the worker's evaluation raised it
    assert finding.entity_type == "source" and finding.entity_id == "prod"
    assert finding.evidence["consecutive_failures"] == 3 and "HTTP 500" in finding.message

    k8s_api.mode = "garbage"  # a fourth failure of another kind: the finding says so
    assert "did not answer JSON" in worker.run_once()["discovery"]["prod"]["error"]
    assert "did not answer JSON" in _source_findings(services)[0].message

    k8s_api.mode = "ok"
    clock.advance(seconds=480)
    recovered = worker.run_once()
    assert "error" not in recovered["discovery"]["prod"]
    state = _state(services, "prod")
    assert state["consecutive_failures"] == 0 and state["health"] == "ok"
    assert state["last_error"] and "did not answer JSON" in state["last_error"]  # kept, shown
    assert _at(state["next_run_at"]) - clock.now() == dt.timedelta(minutes=10)
    assert _source_findings(services) == []
    assert [f.entity_id for f in _source_findings(services, resolved=True)] == ["prod"]


def test_a_missing_token_or_directory_fails_the_source_not_the_worker(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    write_policy(
        services,
        tmp_path,
        {"name": "gh", "live": "github", "target": "acme", "token_env": TOKEN_ENV},
        {"name": "gone", "watch": str(tmp_path / "nowhere")},
    )
    result = services.governance.worker().run_once()
    unset = f"the environment variable {TOKEN_ENV} is not set"
    assert result["discovery"]["gh"] == {"error": unset}
    assert "is not a directory" in result["discovery"]["gone"]["error"]
    assert result["evaluate"]["evaluated"] is True and "checkpoint" in result  # it carried on


def test_two_workers_racing_pull_a_source_once_per_period(
    services: Services,
    second: Services,
    tmp_path: Path,
    clock: FixedClock,
    k8s_api: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    source = {"name": "prod", "live": "k8s", "target": k8s_api.url, "token_env": TOKEN_ENV}
    write_policy(services, tmp_path, {**source, "every": "15m"})
    second.governance.use_policy_file(tmp_path / "governance.yaml")
    calibrate = services.governance.discovery.pull("prod", "test", actor="t", ttl=60)
    assert calibrate is not None and calibrate.error is None
    per_pull = k8s_api.pulls()  # what one pull asks of the server
    clock.advance(minutes=15)
    workers = [
        services.governance.worker(),
        second.governance.worker(),
        services.governance.worker(),
        second.governance.worker(),
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def run(worker: Any) -> None:
        try:
            start.wait()
            for _ in range(3):
                worker.run_once()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    for period in (1, 2):
        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        assert k8s_api.pulls() == per_pull * (1 + period)  # one pull per period, in all
        assert _state(services, "prod")["runs"] == 1 + period
        clock.advance(minutes=15)
    # The window the lease alone does not close: a worker whose "is it due?" read came before
    # another's pull finished takes the lease after it; the check under the lease stops it.
    first = services.governance.discovery.run_due("first", actor="t", ttl=60)
    assert "error" not in first["prod"]
    source = services.governance.policy().discovery.sources[0]
    late = second.governance.discovery._locked(source, "late", actor="t", ttl=60, force=False)
    assert late is None
    assert k8s_api.pulls() == per_pull * 4 and _state(services, "prod")["runs"] == 4


def test_a_shorter_interval_in_the_policy_applies_at_once(
    services: Services, tmp_path: Path, clock: FixedClock
) -> None:
    missing = {"name": "exports", "watch": str(tmp_path / "not-yet")}
    write_policy(services, tmp_path, {**missing, "every": "1d"})
    worker = services.governance.worker()
    assert "is not a directory" in worker.run_once()["discovery"]["exports"]["error"]
    assert _state(services, "exports")["consecutive_failures"] == 1
    clock.advance(minutes=11)
    assert worker.run_once()["discovery"] == "not due"  # backoff after 1 failure: 2.4 h
    write_policy(services, tmp_path, {**missing, "every": "1h"})
    shown = _at(_state(services, "exports")["next_run_at"])
    assert shown == clock.now() - dt.timedelta(minutes=5)  # a tenth of 1h after the failure
    assert "exports" in worker.run_once()["discovery"]  # due at once, not in 2.4 h
