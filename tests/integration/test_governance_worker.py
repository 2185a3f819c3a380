"""The worker on a fake clock: jobs run when due, and two workers never act twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import governance_seed as seed

from charter.config import Settings
from charter.domain.enums import AgentState
from charter.services.clock import FixedClock
from charter.services.context import Services


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Services:
    seed.seed_people_and_agents(services)  # release-notes belongs to tom, who left
    services.reconcile.apply(seed.aws_batch(clock.now()), actor="test")
    return services


@pytest.fixture
def second(database_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    """Another process's services on the same store (its own engines and leases holder)."""
    other = Services.from_settings(Settings(home=tmp_path, database_url=database_url), clock=clock)
    yield other
    other.close()


def test_jobs_run_when_due_on_the_fake_clock(estate: Services, clock: FixedClock) -> None:
    worker = estate.governance.worker()
    first = worker.run_once()
    assert first["evaluate"]["evaluated"] is True and first["evaluate"]["new"] > 0
    assert first["workflows"]["departures"] == [
        {"agent": "release-notes", "action": "pending_transfer", "to": "ada@acme.example"}
    ]
    assert first["checkpoint"]["sequence"] == estate.audit.count()
    idle = {"workflows": "not due", "evaluate": "not due", "checkpoint": "not due"}
    assert worker.run_once() == idle
    clock.advance(seconds=61)
    again = worker.run_once()
    assert again["workflows"]["departures"] == []  # already pending: nothing twice
    assert again["evaluate"] == "not due"  # nothing changed and it ran under 5 minutes ago
    estate.reconcile.apply(seed.fs_batch(), actor="test")  # an ingest: evaluate at once
    assert worker.run_once()["evaluate"]["evaluated"] is True
    clock.advance(days=15)  # the pending owner never accepted
    late = worker.run_once()
    assert {"agent": "release-notes", "action": "suspended", "to": "ada@acme.example"} in late[
        "workflows"
    ]["departures"]
    assert estate.registry.get("release-notes").state == AgentState.SUSPENDED


def test_two_workers_never_double_act(
    estate: Services, second: Services, clock: FixedClock
) -> None:
    seed.register(
        estate,
        {**seed.SUMMARIZER, "name": "expired-bot", "identities": [], "expires": "2026-12-31"},
    )
    clock.advance(days=70)  # expired-bot expired; release-notes' owner left long ago
    workers = [estate.governance.worker(), second.governance.worker(), estate.governance.worker()]
    results: list[dict[str, object]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def run(worker) -> None:  # type: ignore[no-untyped-def]
        try:
            start.wait()
            for _ in range(3):
                results.append(worker.run_once())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    audit = estate.audit
    suspended = audit.list(action="agent.suspend", limit=100)
    assert [e.target for e in suspended] == ["expired-bot"]
    pending = audit.list(action="agent.pending_transfer", limit=100)
    assert [e.target for e in pending] == ["release-notes"]
    runs = audit.list(action="findings.evaluate", limit=100)
    assert len(runs) == 1  # one evaluation for one state of the store
    warned = estate.governance.notices.list(kind="expiry.suspended")
    assert len(warned) == 1
    assert audit.verify().ok
