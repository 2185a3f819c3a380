"""The SET outbox: written with the change it reports, delivered after, off the write path.

:meth:`Outbox.enqueue` runs inside the audit append (the same transaction as the
suspension, revocation or re-charter), so a SET exists exactly when its change
committed. Nothing is signed or sent there: push streams are drained by
:meth:`Outbox.push_pass` (``charter serve`` runs it in a background thread, and
``charter ssf push`` once), poll streams by the receiver (:meth:`Outbox.poll`).
SETs are signed when they leave, with the token service's current signing key
(``typ: secevent+jwt``), which ``/.well-known/jwks.json`` already publishes.

Push retries back off (2, 4, 8 … s, at most 5 min) up to :data:`MAX_ATTEMPTS`;
a ``400`` from the receiver (RFC 8935 §2.4: it read the SET and refused it)
fails the SET at once. A row is claimed before it is sent (its ``next_at``
moved forward under a guarded update), so two senders never push it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain import ssf
from charter.domain.audit import Event
from charter.domain.tokens.jws import Signer
from charter.services.clock import Clock
from charter.services.ssf.streams import Stream, Streams
from charter.store.database import Database
from charter.store.ssf_schema import ssf_outbox as _O
from charter.store.ssf_schema import ssf_streams as _S

logger = logging.getLogger("charter.ssf")
MAX_ATTEMPTS = 10
CLAIM_SECONDS = 60
PUSH_TIMEOUT = 5.0
LONG_POLL_SECONDS = 10.0
RECHECK_SECONDS = 0.05
#: SETs that left (or failed) are kept this long for ``charter ssf streams list``, then pruned
KEEP_DONE = dt.timedelta(days=7)
PRUNE_EVERY = 3600.0

SignerSource = Callable[[], Signer]


def _epoch(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class Outbox:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        streams: Streams,
        issuer: Callable[[], str],
        signer: SignerSource,
    ) -> None:
        self._db = database
        self._clock = clock
        self._streams = streams
        self._issuer = issuer
        self._signer = signer
        self.wake = threading.Event()
        #: kept between passes: a new client (its TLS context) costs more than a push
        self._client: httpx.Client | None = None

    # -- written with the change -------------------------------------------------------------
    def enqueue(self, connection: Connection, events: Sequence[Event]) -> int:
        """The SETs ``events`` mean, one per stream that wants them (the audit hook)."""
        if not any(e.action in ssf.SIGNALLED_ACTIONS for e in events):
            return 0  # the common case: no query at all
        streams = list(
            connection.execute(
                sa.select(_S.c.id, _S.c.audience, _S.c.events_requested).where(
                    _S.c.status != "disabled"
                )
            )
        )
        if not streams:
            return 0
        excluded = self._streams.excluded(connection)
        issuer = self._issuer()
        now = self._clock.now()
        rows: list[dict[str, Any]] = []
        for event in events:
            signals = ssf.signals_for(
                issuer,
                event.action,
                event.target,
                event.actor,
                event.before,
                event.after,
                _epoch(event.time),
            )
            for signal in signals:
                for stream in streams:
                    if signal.event_type not in (stream.events_requested or ()):
                        continue
                    if signal.about in excluded.get(stream.id, ()):
                        continue
                    rows.append(self._row(stream.id, stream.audience, signal, now, event.seq))
        if rows:
            connection.execute(sa.insert(_O), rows)
            self.wake.set()
        return len(rows)

    def _row(
        self, stream_id: str, audience: str, signal: ssf.Signal, now: dt.datetime, seq: int | None
    ) -> dict[str, Any]:
        jti = uuid.uuid4().hex
        claims = ssf.set_claims(
            self._issuer(),
            audience,
            jti,
            int(now.timestamp()),
            signal,
            txn=f"audit:{seq}" if seq is not None else None,
        )
        return {
            "stream_id": stream_id,
            "jti": jti,
            "claims": claims,
            "status": "pending",
            "attempts": 0,
            "next_at": now,
            "created_at": now,
        }

    def verify(self, stream_id: str, state: str | None) -> str:
        """A verification event (SSF 1.0 §8.1.4) queued for the stream; returns its jti."""
        stream = self._streams.get(stream_id)
        payload = {"state": state} if state else {}
        subject = {"format": "opaque", "id": stream.id}
        signal = ssf.Signal(ssf.VERIFICATION, subject, payload, stream.id)
        row = self._row(stream.id, stream.audience, signal, self._clock.now(), None)
        with self._db.write() as connection:
            connection.execute(sa.insert(_O).values(**row))
        self.wake.set()
        return str(row["jti"])

    # -- poll (RFC 8936) ---------------------------------------------------------------------
    def poll(self, stream: Stream, request: ssf.PollRequest) -> dict[str, Any]:
        now = self._clock.now()
        with self._db.write() as connection:
            if request.ack:
                connection.execute(
                    sa.update(_O)
                    .where(_O.c.stream_id == stream.id, _O.c.jti.in_(request.ack))
                    .values(status="acked", done_at=now)
                )
            for jti, error in request.errors.items():
                connection.execute(
                    sa.update(_O)
                    .where(_O.c.stream_id == stream.id, _O.c.jti == str(jti))
                    .values(status="failed", last_error=str(error)[:1000], done_at=now)
                )
        deadline = time.monotonic() + (0 if request.return_immediately else LONG_POLL_SECONDS)
        while True:
            sets, more = self._pending(stream, request.max_events)
            if sets or time.monotonic() >= deadline or request.max_events == 0:
                return {"sets": sets, "moreAvailable": more}
            time.sleep(0.2)

    def _pending(self, stream: Stream, limit: int) -> tuple[dict[str, str], bool]:
        if stream.status != "enabled" or limit == 0:
            return {}, False
        with self._db.read() as connection:
            rows = list(
                connection.execute(
                    sa.select(_O.c.jti, _O.c.claims)
                    .where(_O.c.stream_id == stream.id, _O.c.status == "pending")
                    .order_by(_O.c.id)
                    .limit(limit + 1)
                )
            )
        signer = self._signer()
        return {r.jti: signer.sign(r.claims) for r in rows[:limit]}, len(rows) > limit

    # -- push (RFC 8935) ---------------------------------------------------------------------
    def push_pass(self, *, budget: int = 100) -> dict[str, int]:
        """Send what is due to push streams; returns counts of delivered, retried, failed."""
        counts = {"delivered": 0, "retried": 0, "failed": 0}
        now = self._clock.now()
        with self._db.read() as connection:
            due = list(
                connection.execute(
                    sa.select(_O.c.id, _O.c.jti, _O.c.claims, _O.c.attempts, _O.c.next_at, _S)
                    .join(_S, _S.c.id == _O.c.stream_id)
                    .where(
                        _O.c.status == "pending",
                        _O.c.next_at <= now,
                        _S.c.method == ssf.PUSH,
                        _S.c.status == "enabled",
                    )
                    .order_by(_O.c.id)
                    .limit(budget)
                )
            )
        if not due:
            return counts
        claimed = self._claim(due)
        if not claimed:
            return counts
        signer = self._signer()
        results: list[tuple[Any, dict[str, Any]]] = []
        if self._client is None:
            self._client = httpx.Client(timeout=PUSH_TIMEOUT, follow_redirects=False)
        for row in claimed:
            outcome, values = self._send(self._client, signer, row)
            counts[outcome] += 1
            results.append((row, values))
        with self._db.write() as connection:  # every outcome of the pass in one transaction
            for row, values in results:
                connection.execute(sa.update(_O).where(_O.c.id == row.id).values(**values))
        return counts

    def _claim(self, due: list[Any]) -> list[Any]:
        """The rows this sender takes (``next_at`` moved on under a guard), in one transaction."""
        later = self._clock.now() + dt.timedelta(seconds=CLAIM_SECONDS)
        taken: list[Any] = []
        with self._db.write() as connection:
            for row in due:
                moved = connection.execute(
                    sa.update(_O)
                    .where(_O.c.id == row.id, _O.c.status == "pending", _O.c.next_at == row.next_at)
                    .values(next_at=later)
                )
                if moved.rowcount == 1:
                    taken.append(row)
        return taken

    def _send(self, client: httpx.Client, signer: Signer, row: Any) -> tuple[str, dict[str, Any]]:
        headers = {"Content-Type": "application/secevent+jwt", "Accept": "application/json"}
        if row.authorization_header:
            headers["Authorization"] = row.authorization_header
        error: str | None
        try:
            response = client.post(
                row.endpoint_url, content=signer.sign(row.claims), headers=headers
            )
            status = response.status_code
            error = None if status in (200, 202) else f"HTTP {status}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}"
        now = self._clock.now()
        attempts = row.attempts + 1
        if error is None:
            return "delivered", {"status": "delivered", "done_at": now, "attempts": attempts}
        if status == 400 or attempts >= MAX_ATTEMPTS:
            logger.warning("SET %s to %s failed: %s", row.jti, row.endpoint_url, error)
            return "failed", {
                "status": "failed",
                "done_at": now,
                "attempts": attempts,
                "last_error": error,
            }
        delay = dt.timedelta(seconds=min(2**attempts, 300))
        return "retried", {"next_at": now + delay, "attempts": attempts, "last_error": error}

    def prune(self, *, keep: dt.timedelta = KEEP_DONE) -> int:
        """Forget SETs delivered, acknowledged or failed longer than ``keep`` ago."""
        cutoff = self._clock.now() - keep
        with self._db.write() as connection:
            gone = connection.execute(
                sa.delete(_O).where(_O.c.status != "pending", _O.c.done_at < cutoff)
            )
        return int(gone.rowcount or 0)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def counts(self) -> dict[str, dict[str, int]]:
        """Per stream, how many SETs are in each status."""
        with self._db.read() as connection:
            rows = connection.execute(
                sa.select(_O.c.stream_id, _O.c.status, sa.func.count()).group_by(
                    _O.c.stream_id, _O.c.status
                )
            )
            out: dict[str, dict[str, int]] = {}
            for stream_id, status, count in rows:
                out.setdefault(stream_id, {})[status] = int(count)
        return out


class PushSender:
    """A daemon thread that drains push streams: woken by every enqueue, else each second."""

    def __init__(self, outbox: Outbox, *, every: float = 1.0) -> None:
        self._outbox = outbox
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="charter-ssf-push", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        woken = False
        pruned = 0.0
        while not self._stop.is_set():
            if time.monotonic() - pruned > PRUNE_EVERY:
                pruned = time.monotonic()
                try:
                    self._outbox.prune()
                except Exception:
                    logger.exception("SET outbox prune failed")
            self._outbox.wake.clear()
            try:
                sent = sum(self._outbox.push_pass().values())
                if woken and not sent:
                    # woken inside the enqueueing transaction, before its commit: look again
                    self._stop.wait(RECHECK_SECONDS)
                    self._outbox.push_pass()
            except Exception:  # keep sending; the next pass retries
                logger.exception("SET push pass failed")
            woken = self._outbox.wake.wait(self._every)

    def stop(self) -> None:
        self._stop.set()
        self._outbox.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=PUSH_TIMEOUT + 1)
        self._outbox.close()
