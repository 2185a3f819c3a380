"""Leases: which worker runs which job, so two workers never run the same job at once.

A lease is a row per job (``worker_leases``) naming its holder and when the
lease lapses. Taking it is a compare-and-set in one write transaction: it
succeeds only if nobody holds it, it lapsed, or we already hold it. A worker
that dies simply lets its lease lapse. Leases prevent wasted and overlapping
work; every action inside a job is *also* idempotent on its own (guarded
updates, unique notice keys), so even a lapsed-but-still-running holder cannot
make an action happen twice.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from charter.domain.moments import utc
from charter.services.clock import Clock
from charter.store.database import Database
from charter.store.governance_schema import worker_leases

_L = worker_leases


def new_holder() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    def acquire(self, job: str, holder: str, ttl: int) -> bool:
        now = self._clock.now()
        until = now + dt.timedelta(seconds=ttl)
        with self._db.write() as connection:
            row = connection.execute(sa.select(_L).where(_L.c.job == job)).first()
            if row is None:
                try:
                    with connection.begin_nested():
                        connection.execute(
                            sa.insert(_L).values(job=job, holder=holder, expires_at=until)
                        )
                except sa.exc.IntegrityError:
                    return False  # another worker created it first and holds it
                return True
            free = row.holder is None or row.expires_at is None or utc(row.expires_at) <= now
            if not free and row.holder != holder:
                return False
            guard = [_L.c.job == job]
            guard.append(_L.c.holder.is_(None) if row.holder is None else _L.c.holder == row.holder)
            guard.append(
                _L.c.expires_at.is_(None)
                if row.expires_at is None
                else _L.c.expires_at == row.expires_at
            )
            taken = connection.execute(
                sa.update(_L).where(*guard).values(holder=holder, expires_at=until)
            )
            return taken.rowcount == 1

    def release(self, job: str, holder: str, result: dict[str, Any] | None = None) -> None:
        """Give the lease back and note when the job last ran (and what it did)."""
        values: dict[str, Any] = {"holder": None, "expires_at": None}
        if result is not None:
            values.update(last_run_at=self._clock.now(), last_result=result)
        with self._db.write() as connection:
            connection.execute(
                sa.update(_L).where(_L.c.job == job, _L.c.holder == holder).values(**values)
            )

    def last_run(self, job: str) -> dt.datetime | None:
        with self._db.read() as connection:
            value = connection.execute(sa.select(_L.c.last_run_at).where(_L.c.job == job)).scalar()
        return utc(value) if value is not None else None

    def held_by(self, job: str) -> str | None:
        now = self._clock.now()
        with self._db.read() as connection:
            row = connection.execute(sa.select(_L).where(_L.c.job == job)).first()
        if row is None or row.holder is None or row.expires_at is None:
            return None
        return str(row.holder) if utc(row.expires_at) > now else None

    @contextmanager
    def hold(self, job: str, holder: str, ttl: int) -> Iterator[bool]:
        """``with leases.hold(job, me, 600) as mine:`` — ``mine`` says whether we got it."""
        mine = self.acquire(job, holder, ttl)
        try:
            yield mine
        finally:
            if mine:
                self.release(job, holder)
