"""The issuance ledger: single-use ``jti``s and audit Events, written by group commit.

Every token request must, before its answer leaves, durably (1) consume the
``jti`` of its client assertion and DPoP proof, so a replay is refused by every
replica (RFC 7523 §3 item 7, RFC 9449 §11.1), and (2) append its audit Event.
One transaction per request would cap issuance at the store's commit rate, so
writes are committed in groups: on SQLite an event loop commits every entry
submitted during one turn of the loop in a single transaction, inline (a
thread hand-off costs more CPU than the commit); synchronous callers, and every
caller on PostgreSQL, hand their writes to one writer thread that commits
whatever has queued up. The answer always waits for *its* commit, so nothing
is acknowledged that is not written, and a request whose ``jti`` was already
used gets its refusal recorded in the same transaction instead of its issuance.

Uniqueness is the store's: ``INSERT … ON CONFLICT DO NOTHING RETURNING`` on
the ``(namespace, issuer, jti)`` primary key, so two replicas racing on one
assertion cannot both win.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from charter.domain.audit import EventDraft
from charter.domain.tokens.one_time_use import OneTimeUse
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store.database import Database
from charter.store.tokens_schema import used_jtis

MAX_BATCH = 128
#: how long the writer waits for more requests when they are arriving concurrently
BATCH_WINDOW = 0.002
PRUNE_EVERY_SECONDS = 60


@dataclass(slots=True)
class Entry:
    """One request's writes. ``event`` is recorded when every use was fresh; otherwise
    ``on_replay(use)`` names the refusal to record instead, and the future says which."""

    uses: Sequence[OneTimeUse]
    event: EventDraft | None
    on_replay: Callable[[OneTimeUse], EventDraft] | None = None
    future: Future[OneTimeUse | None] = field(default_factory=Future)
    #: for a caller on an event loop: resolved on that loop, one wake-up per batch
    waiter: asyncio.Future[OneTimeUse | None] | None = None


Settlement = tuple["asyncio.Future[OneTimeUse | None]", "OneTimeUse | None", "BaseException | None"]


def _settle(items: list[Settlement]) -> None:
    for waiter, result, error in items:
        if waiter.done():  # the request was cancelled (client gone)
            continue
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(result)


def _deliver(
    batch: list[Entry],
    results: list[OneTimeUse | None],
    error: BaseException | None,
    here: asyncio.AbstractEventLoop | None = None,
) -> None:
    """Hand each entry its result: thread futures directly, loop futures one call per loop
    (directly when the batch was committed on that loop, ``here``)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Settlement]] = {}
    for entry, result in zip(batch, results, strict=True):
        waiter = entry.waiter
        if waiter is None:
            if error is not None:
                entry.future.set_exception(error)
            else:
                entry.future.set_result(result)
        else:
            by_loop.setdefault(waiter.get_loop(), []).append((waiter, result, error))
    for loop, items in by_loop.items():
        if loop is here:
            _settle(items)
            continue
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(_settle, items)


class Ledger:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._queue: queue.SimpleQueue[Entry | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._last_prune = 0.0
        self._closed = False
        #: SQLite commits are a local file write: an event loop commits its own batch
        #: inline (no thread hand-offs); PostgreSQL round trips go to the writer thread
        self._inline = not database.is_postgres
        self._on_loop: dict[asyncio.AbstractEventLoop, list[Entry]] = {}

    def submit(
        self, entry: Entry, loop: asyncio.AbstractEventLoop | None = None
    ) -> Future[OneTimeUse | None]:
        """Queue ``entry``; its future resolves after the commit (``None``: all uses fresh).

        With ``loop``, ``entry.waiter`` is an asyncio future on that loop instead. On
        SQLite the loop commits, in one transaction, every entry submitted during the
        same turn of the loop (a callback scheduled after the ready ones): no thread
        hand-offs, whose cost exceeds the commit's. Otherwise the writer thread commits
        and settles a whole batch of waiters with one ``call_soon_threadsafe``.
        """
        if self._closed:
            raise RuntimeError("the token ledger is closed")
        if loop is not None:
            entry.waiter = loop.create_future()
            if self._inline:
                pending = self._on_loop.get(loop)
                if pending is None:  # the first of this turn: commit after the ready callbacks
                    pending = self._on_loop[loop] = []
                    loop.call_soon(self._flush_on_loop, loop)
                pending.append(entry)
                return entry.future
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="charter-token-ledger", daemon=True
                    )
                    self._thread.start()
        self._queue.put(entry)
        return entry.future

    def _flush_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._on_loop.pop(loop, [])
        for first in range(0, len(batch), MAX_BATCH):
            part = batch[first : first + MAX_BATCH]
            try:
                self._commit(part, here=loop)
            except BaseException as exc:  # never leave a request waiting forever
                _deliver(part, [None] * len(part), exc, loop)

    def write(self, entry: Entry, timeout: float = 60) -> OneTimeUse | None:
        """Submit and wait (for synchronous callers)."""
        return self.submit(entry).result(timeout=timeout)

    def _run(self) -> None:
        busy = False  # did requests arrive while the last batch was being committed?
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            # Under concurrent load, wait a moment for the requests already in flight:
            # one commit costs about as much CPU as a dozen issuances, so a batch of one
            # per commit would make the store the bottleneck. A lone caller never waits.
            deadline = time.monotonic() + BATCH_WINDOW if busy else 0.0
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    remaining = deadline - time.monotonic()
                    item = (
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            busy = not self._queue.empty() or len(batch) > 1
            if stop:
                return

    def _insert(
        self, connection: sa.Connection, uses: list[OneTimeUse]
    ) -> set[tuple[str, str, str]]:
        """Insert the uses; return the keys that were new (one compiled statement, cached)."""
        if not uses:
            return set()
        rows = [
            {"namespace": u.namespace, "issuer": u.issuer, "jti": u.jti, "expires_at": u.expires_at}
            for u in uses
        ]
        result = connection.execute(self._statement, rows)
        return {(r.namespace, r.issuer, r.jti) for r in result}

    @cached_property
    def _statement(self) -> sa.Insert:
        dialect = postgresql if self._db.is_postgres else sqlite
        statement: sa.Insert = (
            dialect.insert(used_jtis)
            .on_conflict_do_nothing()
            .returning(used_jtis.c.namespace, used_jtis.c.issuer, used_jtis.c.jti)
        )
        return statement

    def _commit(self, batch: list[Entry], here: asyncio.AbstractEventLoop | None = None) -> None:
        try:
            results: list[OneTimeUse | None] = []
            with self._db.write() as connection:
                fresh_uses: list[OneTimeUse] = []
                seen: set[tuple[str, str, str]] = set()
                for entry in batch:  # a jti used twice within one batch: the first wins
                    for use in entry.uses:
                        if use.key not in seen:
                            seen.add(use.key)
                            fresh_uses.append(use)
                inserted = self._insert(connection, fresh_uses)
                events: list[EventDraft] = []
                for entry in batch:
                    replayed = None
                    for use in entry.uses:
                        if use.key in inserted:
                            inserted.discard(use.key)  # consumed by this entry
                        else:
                            replayed = use
                            break
                    results.append(replayed)
                    if replayed is None and entry.event is not None:
                        events.append(entry.event)
                    elif replayed is not None and entry.on_replay is not None:
                        events.append(entry.on_replay(replayed))
                self._audit.record_many(connection, events)
                self._maybe_prune(connection)
        except Exception as exc:  # every waiting request must hear of it
            _deliver(batch, [None] * len(batch), exc, here)
            return
        _deliver(batch, results, None, here)

    def _maybe_prune(self, connection: sa.Connection) -> None:
        now = self._clock.now().timestamp()
        if now - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        connection.execute(sa.delete(used_jtis).where(used_jtis.c.expires_at < int(now) - 60))

    def close(self) -> None:
        """Finish what is queued, then stop the writer."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            with contextlib.suppress(RuntimeError):
                self._thread.join(timeout=30)
