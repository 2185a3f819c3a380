"""What a token's validity depends on, held in memory and kept current.

A JWT access token is checked without a store round trip, yet suspending,
decommissioning or re-chartering an agent must make its outstanding tokens
inactive *at once*, in every process. So every check consults a
:class:`ValiditySnapshot` — each agent's state, charter version and last change, each
person's standing, revoked token ids, per-agent token floors — and the
snapshot is reloaded as soon as the store changed:

* **SQLite**: ``PRAGMA data_version`` on a private connection changes whenever
  another connection (any process) commits; it costs about two microseconds
  with its lock, so it is asked at most once per millisecond: a check that
  starts a millisecond after any other connection's commit sees it (changes made
  through this token service are seen at once). When it moved, the change counters in ``meta``
  are read and only the parts whose counter moved are reloaded.
* **PostgreSQL**: a listener thread holds ``LISTEN charter_changes`` (the
  registry, the people directory and this service ``NOTIFY`` on commit) and
  flags the snapshot stale; the counters are also re-read at least once a
  second, and on every ``fresh=True`` check (introspection), so a lost
  notification can delay a revocation by at most a second and never forever.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa

from charter.domain.enums import AgentState, PersonStatus
from charter.domain.people import Person
from charter.services.clock import Clock
from charter.store import schema
from charter.store.database import Database
from charter.store.tokens_schema import revoked_tokens, token_floors
from charter.store.versions import NOTIFY_CHANNEL, read_versions

#: The change counters a snapshot depends on (see charter.store.versions).
WATCHED = ("charters", "people", "tokens")
#: the hot path asks the store whether anything changed at most this often
CHECK_INTERVAL_NS = 1_000_000
POSTGRES_RECHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class AgentStatus:
    state: AgentState
    charter_version: int
    #: epoch seconds (rounded up) of the agent's last registry change: a token whose ``iat``
    #: is earlier predates a suspension, a transfer or a re-charter and is inactive (tokens
    #: issued later get ``iat`` no earlier than this, so they are never caught by it)
    changed_at: int
    #: the charter's expiry as an ISO date (compared as text), or None
    expires: str | None = None


@dataclass(frozen=True, slots=True)
class ValiditySnapshot:
    agents: Mapping[str, AgentStatus] = field(default_factory=dict)
    people: Mapping[str, Person] = field(default_factory=dict)
    floors: Mapping[str, int] = field(default_factory=dict)
    revoked: frozenset[str] = frozenset()
    counters: Mapping[str, int] = field(default_factory=dict)

    @property
    def generation(self) -> tuple[int, ...]:
        return tuple(self.counters.get(key, 0) for key in WATCHED)


class ChangeWatch(Protocol):
    """Cheaply says whether the store may have changed since it was last asked."""

    #: whether ``changed()`` never misses a commit (then ``fresh`` needs no extra read)
    exact: bool

    def changed(self) -> bool: ...

    def counters(self) -> dict[str, int] | None:
        """The change counters read cheaply, or ``None`` to read them through the engine."""

    def close(self) -> None: ...


class SqliteWatch:
    """``PRAGMA data_version`` on a private read connection (see module docstring).

    Not thread-safe on its own: :class:`StateView` calls it under its lock.
    """

    exact = True

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._cursor = self._connection.cursor()
        self._last = -1

    def changed(self) -> bool:
        cursor = self._cursor
        cursor.execute("PRAGMA data_version")
        version = int(cursor.fetchone()[0])
        moved = version != self._last
        self._last = version
        return moved

    def counters(self) -> dict[str, int] | None:
        rows = self._cursor.execute("SELECT key, value FROM meta").fetchall()
        return {str(key): int(value) for key, value in rows}

    def close(self) -> None:
        self._connection.close()


class PostgresWatch:
    """A ``LISTEN`` thread that flags changes; re-checks at least every second regardless."""

    exact = False

    def __init__(self, url: str) -> None:
        self._conninfo = (
            sa.engine.make_url(url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self._dirty = threading.Event()
        self._dirty.set()
        self._stop = threading.Event()
        self._last_check = 0.0
        self._thread = threading.Thread(
            target=self._listen, name="charter-tokens-listen", daemon=True
        )
        self._thread.start()

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._dirty.set()  # anything may have happened while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.2):
                            self._dirty.set()
            except Exception:
                self._dirty.set()
                self._stop.wait(1.0)

    def changed(self) -> bool:
        now = time.monotonic()
        if self._dirty.is_set() or now - self._last_check > POSTGRES_RECHECK_SECONDS:
            self._dirty.clear()
            self._last_check = now
            return True
        return False

    def counters(self) -> dict[str, int] | None:
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)


def watch_for(database: Database) -> ChangeWatch | None:
    url = sa.engine.make_url(database.url)
    if database.dialect == "sqlite":
        path = url.database
        return SqliteWatch(path) if path and path != ":memory:" else None
    if database.is_postgres:
        return PostgresWatch(database.url)
    return None


def _epoch(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _epoch_ceil(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return math.ceil(moment.timestamp())


class StateView:
    """The current :class:`ValiditySnapshot`, reloaded part by part when the store changed."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot = ValiditySnapshot()
        self._watch: ChangeWatch | None = None
        self._watch_started = False
        self._stale = True
        self._next_check = 0

    def _ensure_watch(self) -> ChangeWatch | None:
        if not self._watch_started:
            self._watch = watch_for(self._db)
            self._watch_started = True
        return self._watch

    def invalidate(self) -> None:
        """This process changed something: re-read the counters on the next check."""
        self._stale = True

    def current(self, *, fresh: bool = False) -> ValiditySnapshot:
        if not fresh and not self._stale and time.perf_counter_ns() < self._next_check:
            return self._snapshot  # checked less than a millisecond ago
        with self._lock:  # the check and the reload are one step, or a thread could miss a change
            self._next_check = time.perf_counter_ns() + CHECK_INTERVAL_NS
            watch = self._ensure_watch()
            forced = fresh and (watch is None or not watch.exact)
            if not (forced or self._stale or watch is None or watch.changed()):
                return self._snapshot
            self._stale = False
            counters = watch.counters() if watch is not None else None
            if counters is None:
                with self._db.read() as connection:
                    counters = read_versions(connection)
            old = self._snapshot
            if all(counters.get(k, 0) == old.counters.get(k, -1) for k in WATCHED):
                return old
            self._snapshot = self._reload(old, counters)
            return self._snapshot

    def _reload(self, old: ValiditySnapshot, counters: Mapping[str, int]) -> ValiditySnapshot:
        moved = {k for k in WATCHED if counters.get(k, 0) != old.counters.get(k, -1)}
        agents, people, floors, revoked = old.agents, old.people, old.floors, old.revoked
        now = _epoch(self._clock.now())
        with self._db.read() as connection:
            if "charters" in moved:
                agents = self._agents(connection)
            if "people" in moved:
                people = self._people(connection)
            if "tokens" in moved:
                floors = {
                    row.agent: int(row.not_before)
                    for row in connection.execute(sa.select(token_floors))
                }
                revoked = frozenset(
                    row.jti
                    for row in connection.execute(
                        sa.select(revoked_tokens.c.jti).where(revoked_tokens.c.expires_at >= now)
                    )
                )
        return ValiditySnapshot(agents, people, floors, revoked, dict(counters))

    @staticmethod
    def _agents(connection: sa.Connection) -> dict[str, AgentStatus]:
        a = schema.agents
        rows = connection.execute(
            sa.select(a.c.name, a.c.state, a.c.charter_version, a.c.updated_at, a.c.expires)
        )
        return {
            row.name: AgentStatus(
                AgentState(row.state),
                int(row.charter_version),
                _epoch_ceil(row.updated_at),
                row.expires.isoformat() if row.expires else None,
            )
            for row in rows
        }

    @staticmethod
    def _people(connection: sa.Connection) -> dict[str, Person]:
        p = schema.people
        rows = connection.execute(
            sa.select(p.c.email, p.c.name, p.c.status, p.c.manager, p.c.groups)
        )
        return {
            row.email: Person(
                row.email, row.name, PersonStatus(row.status), row.manager, tuple(row.groups or ())
            )
            for row in rows
        }

    def close(self) -> None:
        with self._lock:
            if self._watch is not None:
                with contextlib.suppress(Exception):
                    self._watch.close()
            self._watch = None
