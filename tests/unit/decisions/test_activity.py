"""The activity recorder: batches, retries a failed write, loses nothing on close."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from charter.domain.decision import Decision, Reason, ReasonCode
from charter.services.activity import ActivityRecorder
from charter.services.context import Services

ALLOW = Decision(True, "charter/a/allow/0")
DENY = Decision(False, reasons=(Reason(ReasonCode.NO_MATCHING_CAPABILITY, "nothing allows it"),))


def test_a_failed_write_is_retried_not_lost(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = ActivityRecorder(sqlite_services.db, interval=60)
    real = recorder._insert
    calls: list[int] = []

    def flaky(entries: list[Any]) -> None:
        calls.append(len(entries))
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        real(entries)

    monkeypatch.setattr(recorder, "_insert", flaky)
    for index in range(7000):
        recorder.record(
            1_700_000_000_000_000 + index,
            "a",
            "x.read",
            f"s:{index}",
            None,
            ALLOW if index % 2 else DENY,
            "test",
            1.5,
        )
    assert recorder.flush() == 0 and recorder.stats.failures == 1 and recorder.stats.queued == 7000
    recorder.close()
    assert recorder.stats.queued == 0 and recorder.stats.written == 7000
    with sqlite_services.db.read() as connection:
        rows = connection.execute(sa.text("SELECT count(*), sum(allowed) FROM activities")).one()
        first = connection.execute(
            sa.text("SELECT time, reasons FROM activities ORDER BY id LIMIT 1")
        ).one()
    assert tuple(rows) == (7000, 3500)
    assert str(first.time).startswith("2023-11-14 22:13:20")
    assert "no_matching_capability" in first.reasons


def test_allows_may_be_sampled_denies_never(sqlite_services: Services) -> None:
    recorder = ActivityRecorder(sqlite_services.db, allow_sample=0.0, max_backlog=10)
    for _ in range(50):
        recorder.record(1, "a", "x", "s:1", None, ALLOW, "test")
        recorder.record(1, "a", "x", "s:1", None, DENY, "test")
    assert recorder.stats.sampled_out == 50
    recorder.close()
    assert recorder.stats.written == 50


def test_when_far_behind_allows_are_shed_and_denies_kept(sqlite_services: Services) -> None:
    recorder = ActivityRecorder(sqlite_services.db, interval=60, max_backlog=10)
    for _ in range(50):
        recorder.record(1, "a", "x", "s:1", None, DENY, "test")
        recorder.record(1, "a", "x", "s:1", None, ALLOW, "test")
    assert recorder.stats.shed == 45  # allows after the queue reached 10
    recorder.close()
    assert recorder.stats.written == 55  # every deny, and the first 5 allows
    with sqlite_services.db.read() as connection:
        denies = connection.execute(
            sa.text("SELECT count(*) FROM activities WHERE NOT allowed")
        ).scalar()
    assert denies == 50
