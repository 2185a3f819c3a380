"""Activity: every decision recorded, in batches, off the hot path.

A decision appends one tuple to an in-memory queue (about 0.1 µs); a
background thread writes the queue to the ``activities`` table in batches: the
rows go to the database as one JSON array per batch, which SQLite
(``json_each``) or PostgreSQL (``json_array_elements``) expands into rows in
one ``INSERT … SELECT``, so the per-row work is in the database's C code, not
in Python. Rules:

* **Denies are never sampled and never dropped.** Allows may be sampled
  (``allow_sample`` < 1, off by default) and, only if the writer falls
  ``max_backlog`` rows behind, shed; both are counted (:attr:`stats`).
* **Nothing is lost on a clean shutdown**: :meth:`close` (called by the API's
  shutdown hook, by ``Services.close`` and at interpreter exit) stops the
  thread and writes whatever is still queued.
* A failed write is retried on the next round (the rows stay queued), so a
  store that is briefly locked or restarting does not lose records; a failed
  batch is rolled back whole, so a retry writes no row twice.
* **Group commit for callers who must not acknowledge an unrecorded decision**
  (the AuthZEN endpoints): :meth:`ActivityRecorder.committed` waits until every
  record queued before the call is committed — the writer is woken at once, and
  one transaction commits everything queued by all waiting requests.
* The writer also counts what it wrote for ``/metrics`` (:attr:`tally`), so
  the decision metrics cost the hot path nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import logging
import random
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import orjson

from charter.domain.decision import Decision
from charter.services.metrics import DecisionTally
from charter.store.database import Database

logger = logging.getLogger("charter.activity")

Entry = tuple[int, str, str, str, str | None, Decision, str, float | None]

_COLUMNS = "time, agent, on_behalf_of, action, resource, allowed, reasons, source, latency_us"
#: one JSON array of rows ``[time, agent, on_behalf_of, action, resource, allowed, reasons,
#: source, latency]`` expanded by the database, in the array's order (ids follow it)
_SQLITE_INSERT = (
    f"INSERT INTO activities ({_COLUMNS}) SELECT json_extract(value, '$[0]'), "  # noqa: S608
    "json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), "
    "json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]'), "
    "json_extract(value, '$[7]'), json_extract(value, '$[8]') FROM json_each(?) ORDER BY key"
)
_POSTGRES_INSERT = (
    f"INSERT INTO activities ({_COLUMNS}) SELECT (r->>0 || '+00')::timestamptz, "  # noqa: S608
    "r->>1, r->>2, r->>3, r->>4, (r->>5)::boolean, (r->6)::jsonb, r->>7, (r->>8)::float8 "
    "FROM json_array_elements(%s::json) WITH ORDINALITY AS t(r, n) ORDER BY n"
)
#: a waiter for :meth:`ActivityRecorder.committed`: a thread's future, or a loop's
Waiter = Future[None] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class NotRecorded(Exception):
    """The decisions could not be recorded in time (the store is down or far behind)."""


def _wake_loop(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a request that timed out or whose client left
            future.set_result(None)


def _expire(future: asyncio.Future[None], timeout: float) -> None:
    if not future.done():
        future.set_exception(NotRecorded(f"the decisions were not recorded within {timeout:g} s"))


def _settle(waiters: list[Waiter]) -> None:
    """Tell each waiter its records are committed: one call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for waiter in waiters:
        if isinstance(waiter, tuple):
            by_loop.setdefault(waiter[0], []).append(waiter[1])
        elif not waiter.done():
            waiter.set_result(None)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_wake_loop, futures)


@dataclass(frozen=True, slots=True)
class RecorderStats:
    queued: int
    written: int
    sampled_out: int
    shed: int
    failures: int


class ActivityRecorder:
    def __init__(
        self,
        database: Database,
        *,
        batch_size: int = 5000,
        interval: float = 0.2,
        allow_sample: float = 1.0,
        max_backlog: int = 1_000_000,
    ) -> None:
        self._db = database
        self._batch = batch_size
        self._interval = interval
        self._sample = allow_sample
        self._max_backlog = max_backlog
        self._queue: collections.deque[Entry] = collections.deque()
        self._wake = threading.Event()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._reasons_cache: dict[int, tuple[Decision, orjson.Fragment]] = {}
        self._written = self._sampled_out = self._shed = self._failures = 0
        #: decisions by result, reason and latency, counted here, off the hot path
        self.tally = DecisionTally()
        self._exit_hook = False
        self._waiters: list[Waiter] = []
        self._waiters_lock = threading.Lock()
        self._kick_scheduled = False
        self._raw: Any = None  # the writer's driver connection (under _write_lock)

    # -- the hot path ------------------------------------------------------------
    def record(
        self,
        now_us: int,
        agent: str,
        action: str,
        resource: str,
        on_behalf_of: str | None,
        decision: Decision,
        source: str,
        latency_us: float | None = None,
    ) -> None:
        if decision.allowed:
            if self._sample < 1.0 and random.random() >= self._sample:
                self._sampled_out += 1
                return
            if len(self._queue) >= self._max_backlog:
                self._shed += 1
                return
        self._queue.append(
            (now_us, agent, action, resource, on_behalf_of, decision, source, latency_us)
        )
        if self._thread is None:
            self._start()

    # -- the writer ----------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="charter-activity", daemon=True
            )
            self._thread.start()
            if not self._exit_hook:
                atexit.register(self.close)
                self._exit_hook = True

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()
            self._kick_scheduled = False  # a kick lost with its loop must not block later ones

    def _reasons(self, decision: Decision) -> orjson.Fragment | list[dict[str, Any]]:
        """The ``reasons`` column: ``[{code, rule, …}]``; an allow's, shared, is cached."""
        if not decision.allowed:
            return [reason.to_dict() for reason in decision.reasons]
        key = id(decision)
        hit = self._reasons_cache.get(key)
        if hit is not None and hit[0] is decision:
            return hit[1]
        body: dict[str, Any] = {"code": "allowed", "rule": decision.rule}
        if decision.role:
            body["role"] = decision.role
        fragment = orjson.Fragment(orjson.dumps([body]))
        if len(self._reasons_cache) > 65536:
            self._reasons_cache.clear()
        self._reasons_cache[key] = (decision, fragment)
        return fragment

    def _rows(self, entries: list[Entry]) -> bytes:
        """The batch as one JSON array of rows (UTC time as text, per second cached)."""
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        reasons = self._reasons
        second, prefix = -1, ""
        for now_us, agent, action, resource, on_behalf_of, decision, source, latency in entries:
            if now_us // 1_000_000 != second:
                second = now_us // 1_000_000
                prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
            append(
                (
                    f"{prefix}.{now_us % 1_000_000:06d}",
                    agent[:128],
                    on_behalf_of[:320] if on_behalf_of else None,
                    action[:256],
                    resource[:1024],
                    decision.allowed,
                    reasons(decision),
                    source,
                    latency,
                )
            )
        return orjson.dumps(rows)

    def flush(self) -> int:
        """Write everything queued now; returns the number of rows written.

        Whoever waits in :meth:`committed` from before this call is told once every
        row queued up to the end of the call is committed (not after a failed write).
        """
        with self._write_lock:
            return self._drain()

    def _drain(self) -> int:
        written = 0
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, []
        while self._queue:
            entries: list[Entry] = []
            while self._queue and len(entries) < self._batch:
                entries.append(self._queue.popleft())
            try:
                self._insert(entries)
            except Exception:
                self._failures += 1
                logger.exception("writing %d activity records failed; will retry", len(entries))
                self._queue.extendleft(reversed(entries))
                with self._waiters_lock:
                    self._waiters[:0] = waiters
                return written
            written += len(entries)
            self._written += len(entries)
            self.tally.add((entry[5], entry[7]) for entry in entries)
        if waiters:
            _settle(waiters)
        return written

    def _insert(self, entries: list[Entry]) -> None:
        """One transaction, one statement: the batch as a JSON array the database expands.

        On the writer's own driver connection, kept between batches: a small batch (the
        group commit of a few single evaluations) costs the commit, not a pool checkout,
        a ping and the ORM's transaction events. A failed batch rolls back whole and
        the connection is dropped, so the retry starts clean.
        """
        rows = self._rows(entries).decode()
        if self._raw is None:
            self._raw = self._db.write_engine.raw_connection()
        driver: Any = self._raw.driver_connection
        try:
            if self._db.is_postgres:
                with driver.cursor() as cursor:
                    cursor.execute(_POSTGRES_INSERT, (rows,))
                driver.commit()
            else:
                driver.execute("BEGIN IMMEDIATE")
                try:
                    driver.execute(_SQLITE_INSERT, (rows,))
                except BaseException:
                    driver.execute("ROLLBACK")
                    raise
                driver.execute("COMMIT")
        except BaseException:
            self._release(invalidate=True)
            raise

    def _release(self, *, invalidate: bool = False) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            with contextlib.suppress(Exception):
                if invalidate:
                    raw.invalidate()
                else:
                    raw.close()  # back to the pool

    # -- waiting for the commit ------------------------------------------------------
    def _wait_for_next_flush(self, waiter: Waiter) -> None:
        with self._waiters_lock:
            self._waiters.append(waiter)
        if self._thread is None:
            self._start()
        if isinstance(waiter, tuple):  # wake the writer after this turn of the loop, so
            if not self._kick_scheduled:  # every request answered in it shares the commit
                self._kick_scheduled = True
                waiter[0].call_soon(self._kick)
        else:
            self._wake.set()

    def _kick(self) -> None:
        """Wake the writer thread for the waiting requests' commit. Never commit on the
        event loop itself: on SQLite, ``BEGIN IMMEDIATE`` waits up to the busy timeout
        while another process (the CLI, a worker, a gateway) holds the write lock, and
        the whole server (``/healthz`` and the 503 timer included) would wait with it."""
        self._kick_scheduled = False
        self._wake.set()

    @property
    def shed_count(self) -> int:
        """Allows shed so far; read it before deciding and pass it to :meth:`committed`."""
        return self._shed

    async def committed(self, timeout: float, *, shed_before: int | None = None) -> None:
        """Return once every record queued before the call is committed (group commit).

        Raises :class:`NotRecorded` after ``timeout`` seconds, or when an allow was shed
        (the writer a million rows behind) since ``shed_before`` (the count read before
        the caller decided; default: now): the caller must not acknowledge decisions
        that may not be in the store.
        """
        shed = self._shed if shed_before is None else shed_before
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._wait_for_next_flush((loop, future))
        expiry = loop.call_later(timeout, _expire, future, timeout)
        try:
            await future
        finally:
            expiry.cancel()
        if self._shed != shed:
            raise NotRecorded("the activity writer is too far behind; allows were shed")

    def wait_committed(self, timeout: float) -> None:
        """:meth:`committed` for a thread (no event loop)."""
        future: Future[None] = Future()
        self._wait_for_next_flush(future)
        try:
            future.result(timeout)
        except TimeoutError as exc:
            raise NotRecorded(f"the decisions were not recorded within {timeout:g} s") from exc

    def close(self) -> None:
        """Stop the writer and write every queued record (idempotent;
        a later record restarts it).
        """
        with self._start_lock:
            if self._stop is not None:
                self._stop.set()
            self._wake.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        for _ in range(3):
            if not self._queue:
                break
            self.flush()
        if self._queue:
            logger.error("%d activity records could not be written at shutdown", len(self._queue))
        with self._write_lock:
            self._release()

    @property
    def stats(self) -> RecorderStats:
        return RecorderStats(
            len(self._queue), self._written, self._sampled_out, self._shed, self._failures
        )
