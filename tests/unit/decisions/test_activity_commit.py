"""Group commit of Activity: ``committed`` returns only once the rows are in the store,
never after a failed write, and a retried batch is written once, in order."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from charter.domain.decision import Decision, Reason, ReasonCode
from charter.services.activity import ActivityRecorder, NotRecorded
from charter.services.context import Services

ALLOW = Decision(True, "charter/a/allow/0", role="reader")
DENY = Decision(False, reasons=(Reason(ReasonCode.NO_MATCHING_CAPABILITY, "nothing allows it"),))
NOW_US = 1_700_000_000_123_456

SQLITE_FAIL = (
    "CREATE TRIGGER test_fail BEFORE INSERT ON activities "
    "BEGIN SELECT RAISE(ABORT, 'the store refuses'); END"
)
POSTGRES_FAIL = (
    "CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN IF NEW.resource = 's:1500' THEN RAISE EXCEPTION 'the store refuses'; END IF; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER test_fail BEFORE INSERT ON activities "
    "FOR EACH ROW EXECUTE FUNCTION test_fail()",
)


@pytest.fixture
def recorder(services: Services) -> Iterator[ActivityRecorder]:
    built = ActivityRecorder(services.db, interval=60)  # only a waiter wakes it early
    yield built
    built.close()


def _fail_writes(services: Services, on: bool) -> None:
    """A real refusal by the store: a trigger that aborts the insert (half-way on PostgreSQL)."""
    with services.db.write() as connection:
        if services.db.is_postgres:
            if on:
                for statement in POSTGRES_FAIL:
                    connection.exec_driver_sql(statement)
            else:
                connection.exec_driver_sql("DROP TRIGGER test_fail ON activities")
                connection.exec_driver_sql("DROP FUNCTION test_fail()")
        else:
            connection.exec_driver_sql(SQLITE_FAIL if on else "DROP TRIGGER test_fail")


def _rows(services: Services) -> list[tuple[str, bool, str]]:
    with services.db.read() as connection:
        found = connection.execute(
            sa.text("SELECT resource, allowed, reasons FROM activities ORDER BY id")
        ).all()
    return [(r.resource, bool(r.allowed), str(r.reasons)) for r in found]


def _record(recorder: ActivityRecorder, start: int, count: int) -> None:
    for index in range(start, start + count):
        decision = ALLOW if index % 2 else DENY
        recorder.record(NOW_US + index, "a", "x.read", f"s:{index}", None, decision, "authzen")


def test_committed_returns_once_the_rows_are_readable(
    services: Services, recorder: ActivityRecorder
) -> None:
    _record(recorder, 0, 10)
    asyncio.run(recorder.committed(10))
    rows = _rows(services)  # another connection: committed, not just written
    assert [r[0] for r in rows] == [f"s:{i}" for i in range(10)]
    assert [r[1] for r in rows] == [bool(i % 2) for i in range(10)]
    assert "no_matching_capability" in rows[0][2] and "reader" in rows[1][2]
    with services.db.read() as connection:
        first = connection.execute(sa.text("SELECT time FROM activities ORDER BY id")).first()
    assert first is not None
    moment = first.time if isinstance(first.time, dt.datetime) else str(first.time)
    assert str(moment).startswith("2023-11-14 22:13:20.123456")


def test_a_failed_write_is_not_acknowledged_and_its_retry_writes_each_row_once(
    services: Services, recorder: ActivityRecorder
) -> None:
    _fail_writes(services, True)
    _record(recorder, 0, 3000)
    with pytest.raises(NotRecorded):
        asyncio.run(recorder.committed(0.5))
    with pytest.raises(NotRecorded):
        recorder.wait_committed(0.2)
    assert _rows(services) == [] and recorder.stats.failures >= 1
    _fail_writes(services, False)
    _record(recorder, 3000, 500)  # queued behind the failed batch
    asyncio.run(recorder.committed(10))
    resources = [r[0] for r in _rows(services)]
    assert resources == [f"s:{i}" for i in range(3500)]  # in order, none twice, none lost


def test_waiters_from_many_threads_share_commits(
    services: Services, recorder: ActivityRecorder
) -> None:
    async def request(start: int) -> None:
        _record(recorder, start, 50)
        await recorder.committed(10)
        with services.db.read() as connection:
            seen = connection.execute(
                sa.text("SELECT count(*) FROM activities WHERE resource = :r"),
                {"r": f"s:{start + 49}"},
            ).scalar_one()
        assert seen == 1

    async def many() -> None:
        await asyncio.gather(*(request(start) for start in range(0, 2000, 50)))

    asyncio.run(many())
    assert len(_rows(services)) == 2000
    assert recorder.stats.written == 2000


def test_an_allow_shed_by_the_callers_own_record_withholds_the_answer(services: Services) -> None:
    """The shed count is read before deciding: an allow shed by this request's own
    ``record`` (the writer ``max_backlog`` rows behind) must not be acknowledged."""
    recorder = ActivityRecorder(services.db, interval=60, max_backlog=1)
    try:
        before = recorder.shed_count
        recorder.record(NOW_US, "a", "x.read", "s:0", None, ALLOW, "authzen")
        recorder.record(NOW_US + 1, "a", "x.read", "s:1", None, ALLOW, "authzen")  # shed
        assert recorder.shed_count == before + 1
        with pytest.raises(NotRecorded, match="shed"):
            asyncio.run(recorder.committed(10, shed_before=before))
    finally:
        recorder.close()


def test_a_sqlite_write_lock_held_elsewhere_does_not_stop_the_event_loop(
    services: Services, recorder: ActivityRecorder
) -> None:
    """Another process holding SQLite's write lock delays the commit, never the loop:
    the loop keeps running (its other requests, the 503 timer) while the writer waits."""
    if services.db.is_postgres:
        pytest.skip("SQLite's single write lock")
    path = services.db.write_engine.url.database
    assert path
    holder = sqlite3.connect(path, isolation_level=None)  # another writer, as a CLI would be
    try:
        holder.execute("BEGIN IMMEDIATE")

        async def scenario() -> tuple[int, bool]:
            _record(recorder, 0, 2)
            waiting = asyncio.ensure_future(recorder.committed(10))
            ticks = 0
            for _ in range(20):  # 1 s of loop turns while the lock is held
                await asyncio.sleep(0.05)
                ticks += 1
            done_while_locked = waiting.done()
            holder.execute("ROLLBACK")  # release the lock: the writer commits
            await asyncio.wait_for(waiting, 10)
            return ticks, done_while_locked

        ticks, done_while_locked = asyncio.run(scenario())
        assert ticks == 20 and not done_while_locked
        assert len(_rows(services)) == 2
    finally:
        holder.close()
