"""Activity: every decision recorded, in batches, off the hot path.

A decision appends one tuple to an in-memory queue (about 0.1 µs); a
background thread writes the queue to the ``activities`` table in batches with
one multi-row ``INSERT`` per batch. Rules:

* **Denies are never sampled and never dropped.** Allows may be sampled
  (``allow_sample`` < 1, off by default) and, only if the writer falls
  ``max_backlog`` rows behind, shed; both are counted (:attr:`stats`).
* **Nothing is lost on a clean shutdown**: :meth:`close` (called by the API's
  shutdown hook, by ``Services.close`` and at interpreter exit) stops the
  thread and writes whatever is still queued.
* A failed write is retried on the next round (the rows stay queued), so a
  store that is briefly locked or restarting does not lose records.
* The writer also counts what it wrote for ``/metrics`` (:attr:`tally`), so
  the decision metrics cost the hot path nothing.
"""

from __future__ import annotations

import atexit
import collections
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from charter.domain.decision import Decision
from charter.services.metrics import DecisionTally
from charter.store.database import Database

logger = logging.getLogger("charter.activity")

Entry = tuple[int, str, str, str, str | None, Decision, str, float | None]

_COLUMNS = "time, agent, on_behalf_of, action, resource, allowed, reasons, source, latency_us"


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
        self._reasons_cache: dict[int, tuple[Decision, str]] = {}
        self._written = self._sampled_out = self._shed = self._failures = 0
        #: decisions by result, reason and latency, counted here, off the hot path
        self.tally = DecisionTally()
        self._exit_hook = False

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

    def _reasons(self, decision: Decision) -> str:
        key = id(decision)
        hit = self._reasons_cache.get(key)
        if hit is not None and hit[0] is decision:
            return hit[1]
        if decision.allowed:
            body: list[dict[str, Any]] = [{"code": "allowed", "rule": decision.rule}]
            if decision.role:
                body[0]["role"] = decision.role
        else:
            body = [reason.to_dict() for reason in decision.reasons]
        text = orjson.dumps(body).decode()
        if decision.allowed:  # allows are shared objects: worth caching
            if len(self._reasons_cache) > 65536:
                self._reasons_cache.clear()
            self._reasons_cache[key] = (decision, text)
        return text

    def _parameters(self, entries: list[Entry]) -> list[Any]:
        """One flat parameter list for a multi-row INSERT (UTC time as text, per second cached)."""
        out: list[Any] = []
        extend = out.extend
        second, prefix = -1, ""
        for now_us, agent, action, resource, on_behalf_of, decision, source, latency in entries:
            if now_us // 1_000_000 != second:
                second = now_us // 1_000_000
                prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
            extend(
                (
                    f"{prefix}.{now_us % 1_000_000:06d}",
                    agent[:128],
                    on_behalf_of[:320] if on_behalf_of else None,
                    action[:256],
                    resource[:1024],
                    decision.allowed,
                    self._reasons(decision),
                    source,
                    latency,
                )
            )
        return out

    def flush(self) -> int:
        """Write everything queued now; returns the number of rows written."""
        written = 0
        with self._write_lock:
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
                    return written
                written += len(entries)
                self._written += len(entries)
                self.tally.add((entry[5], entry[7]) for entry in entries)
        return written

    def _insert(self, entries: list[Entry]) -> None:
        """Multi-row INSERTs: one statement per chunk, so the driver drops the GIL once per
        chunk rather than once per row (per-row round trips starve the serving thread)."""
        postgres = self._db.is_postgres
        if postgres:
            row = "(%s::timestamptz, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
            per_statement = 1000
        else:
            row = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
            per_statement = 3000  # 27,000 parameters; SQLite allows 32,766
        with self._db.write() as connection:
            for start in range(0, len(entries), per_statement):
                chunk = entries[start : start + per_statement]
                parameters = self._parameters(chunk)
                if postgres:
                    parameters[0::9] = [f"{stamp}+00" for stamp in parameters[0::9]]
                statement = f"INSERT INTO activities ({_COLUMNS}) VALUES " + ",".join(  # noqa: S608
                    [row] * len(chunk)
                )
                connection.exec_driver_sql(statement, tuple(parameters))

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

    @property
    def stats(self) -> RecorderStats:
        return RecorderStats(
            len(self._queue), self._written, self._sampled_out, self._shed, self._failures
        )
