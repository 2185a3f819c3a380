"""Replicas started together on an empty PostgreSQL database migrate it once, not in a race.

Every ``charter serve`` (and worker, and gateway) migrates its store when it starts.
Without a lock, three replicas of a fresh deployment would each run the migrations
at once: one wins, the others fail on tables that appeared under them.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from tests.conftest import postgres_url
from tests.support.replicas import private_database

from charter.store.database import open_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


def test_replicas_starting_together_migrate_an_empty_database_once() -> None:
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not available (see the warning above for how to enable it)")
    with private_database(base, prefix="charter_migrate") as url:
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def replica() -> None:
            start.wait()
            try:
                open_database(url).dispose()
            except BaseException as exc:  # collected, asserted below
                errors.append(exc)

        threads = [threading.Thread(target=replica) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not [t for t in threads if t.is_alive()], "the migrations are stuck in a race"
        assert errors == []
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            heads = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        engine.dispose()
        assert len(heads) == len({row[0] for row in heads}) >= 1
