"""Delivery: notices and tasks out through the channels of the policy's ``delivery`` section.

One pass (the worker's ``deliver`` job, or ``run_pass`` directly):

1. **route** new notices and open tasks: a delivery row per channel and address
   (:mod:`.delivery_rows`; idempotent);
2. **send** due rows this worker claimed: one message per row, or one digest per
   (channel, address) for digest rows; a channel that fails is not tried again
   in this pass (its other rows wait with the same error), so one slow or broken
   channel never stalls the rest;
3. **record** each outcome: ``sent``, or still ``queued`` with the error and the
   next attempt after exponential backoff, ``failed`` once attempts run out;
4. every ``poll_issues_every``, **follow issues**: a task whose GitHub or Jira
   issue was closed is closed too.

Secrets are resolved at the start of each pass from the environment or the
secrets file, never stored; errors stored in the table are redacted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from charter.domain.governance.channels import ISSUE_CHANNELS, DeliveryPolicy
from charter.domain.governance.messages import Message, digest
from charter.domain.moments import utc
from charter.errors import CharterError, Conflict
from charter.services.clock import Clock
from charter.services.governance import delivery_rows as rows_
from charter.services.governance.channel_secrets import ChannelSecrets
from charter.services.governance.leases import Leases
from charter.services.governance.tasks import TaskService
from charter.services.governance.transports import ChannelError, IssueTracker, Transport, build
from charter.store.database import Database

logger = logging.getLogger("charter.delivery")
ISSUES_JOB = "job:deliver-issues"


def _message(row: Any, notices: dict[str, Any], tasks: dict[str, Any], link: str | None) -> Message:
    if row.item_type == "notice":
        n = notices[row.item_id]
        return Message(
            item_type="notice",
            item_id=row.item_id,
            kind=n.kind,
            subject=n.subject,
            body=n.body,
            created_at=utc(n.created_at),
            agent=n.agent,
            recipient=n.recipient,
            link=link,
        )
    t = tasks[row.item_id]
    return Message(
        item_type="task",
        item_id=t.id,
        kind=t.kind,
        subject=t.title,
        body=f"Task for {t.agent or t.system or t.target}.",
        created_at=utc(t.created_at),
        agent=t.agent,
        recipient=t.assignee,
        steps=tuple(t.steps or ()),
        link=link,
    )


class DeliveryService:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        policy: Callable[[], DeliveryPolicy],
        leases: Leases,
        tasks: Callable[[], TaskService],
        *,
        home: Path,
    ) -> None:
        self._db = database
        self._clock = clock
        self._policy = policy
        self._leases = leases
        self._tasks = tasks
        self._home = home

    def _secrets(self, policy: DeliveryPolicy) -> tuple[ChannelSecrets, str | None]:
        """The secrets, and why the secrets file could not be read (its channels wait)."""
        if policy.secrets_file is None:
            return ChannelSecrets({}), None
        path = Path(policy.secrets_file).expanduser()
        try:
            return ChannelSecrets.load(path if path.is_absolute() else self._home / path), None
        except CharterError as exc:
            return ChannelSecrets({}), str(exc)

    def _transports(
        self,
        policy: DeliveryPolicy,
        secrets: ChannelSecrets,
        client: httpx.Client,
        secrets_error: str | None,
    ) -> tuple[dict[str, Transport], dict[str, str]]:
        """Each channel's transport, or why it cannot be built (a missing secret)."""
        built: dict[str, Transport] = {}
        broken: dict[str, str] = {}
        for name, channel in policy.channels.items():
            try:
                built[name] = build(channel, secrets, client, policy.timeout)
            except CharterError as exc:
                because = f" ({secrets_error})" if secrets_error else ""
                broken[name] = f"channel {name}: {exc}{because}"
        return built, broken

    def run_pass(self, holder: str) -> dict[str, Any]:
        """Route, send what is due, follow issues; what happened, as counts."""
        policy = self._policy()
        if not policy.enabled:
            return {"enabled": False}
        started = time.monotonic()
        out: dict[str, Any] = {"routed": 0, "sent": 0, "errors": 0, "deferred": 0}
        while True:  # route in slices so one pass never holds the write lock long
            routed = rows_.route_new(self._db, policy, self._clock.now(), policy.batch)
            out["routed"] += routed
            if routed < policy.batch or time.monotonic() - started > policy.budget:
                break
        secrets, secrets_error = self._secrets(policy)
        with httpx.Client(timeout=policy.timeout, follow_redirects=False) as client:
            transports, broken = self._transports(policy, secrets, client, secrets_error)
            # a claim outlives the pass's budget plus one request per channel; rows whose
            # turn comes later are given back unsent, so no claim lapses mid-send
            # (a request may wait ``timeout`` per network step: allow a few steps each)
            ttl = int(policy.budget + policy.timeout * (len(policy.channels) + 6) + 60)
            deadline = started + ttl - 4 * policy.timeout - 30
            while time.monotonic() - started < policy.budget:
                claimed = rows_.claim(
                    self._db, holder, self._clock.now(), limit=policy.batch, ttl=ttl
                )
                if not claimed:
                    break
                outcomes = self._send(claimed, transports, broken, policy, secrets, deadline)
                done = [o for o in outcomes if not o.skipped]
                rows_.record(self._db, holder, done, self._clock.now(), policy)
                rows_.release(self._db, holder, [o.id for o in outcomes if o.skipped])
                for outcome in outcomes:
                    key = (
                        "deferred"
                        if outcome.skipped
                        else "sent"
                        if outcome.error is None
                        else "errors"
                    )
                    out[key] += 1
                if len(claimed) < policy.batch:
                    break
            out["issues_closed"] = self._follow_issues(policy, transports)
        out["seconds"] = round(time.monotonic() - started, 3)
        return out

    def _send(
        self,
        claimed: list[Any],
        transports: dict[str, Transport],
        broken: dict[str, str],
        policy: DeliveryPolicy,
        secrets: ChannelSecrets,
        deadline: float,
    ) -> list[rows_.Outcome]:
        with self._db.read() as connection:
            notices, tasks = rows_.load_items(connection, claimed)
        failed: dict[str, str] = dict(broken)
        outcomes: list[rows_.Outcome] = []
        singles = [r for r in claimed if not r.digest]
        groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for row in claimed:
            if row.digest:
                groups[(row.channel, row.address)].append(row)
        link = f"{policy.console_url.rstrip('/')}/inbox" if policy.console_url else None

        def attempt(channel: str, message: Message, address: str, message_id: str) -> str | None:
            if channel in failed:
                raise ChannelError(f"{failed[channel]} (not tried again in this pass)")
            transport = transports.get(channel)
            if transport is None:
                raise ChannelError(f"no channel named {channel!r} in the policy now")
            try:
                return transport.send(message, address=address, message_id=message_id)
            except ChannelError as exc:
                failed[channel] = secrets.redact(str(exc))
                raise

        def one(row: Any) -> rows_.Outcome:
            if time.monotonic() > deadline:
                return rows_.Outcome(row.id, skipped=True)
            if row.item_id not in (notices if row.item_type == "notice" else tasks):
                return rows_.Outcome(row.id, error="the item no longer exists")
            message = _message(row, notices, tasks, link)
            try:
                reference = attempt(
                    row.channel, message, row.address, f"charter-{row.item_type}-{row.id}"
                )
            except ChannelError as exc:
                return rows_.Outcome(row.id, error=secrets.redact(str(exc)))
            return rows_.Outcome(row.id, reference=reference)

        # each channel's first message alone (a dead channel costs one timeout a pass),
        # then the rest of the healthy channels' messages side by side
        rest: list[Any] = []
        probed: set[str] = set()
        for row in singles:
            if row.channel in probed:
                rest.append(row)
                continue
            probed.add(row.channel)
            outcomes.append(one(row))
        if policy.concurrency > 1 and len(rest) > 1:
            with ThreadPoolExecutor(policy.concurrency, thread_name_prefix="deliver") as pool:
                outcomes += list(pool.map(one, rest))
        else:
            outcomes += [one(row) for row in rest]
        for (channel, address), members in groups.items():
            if time.monotonic() > deadline:
                outcomes += [rows_.Outcome(r.id, skipped=True) for r in members]
                continue
            present = [r for r in members if r.item_id in (notices | tasks)]
            messages = [_message(r, notices, tasks, link) for r in present]
            day = self._clock.now().date()
            try:
                attempt(
                    channel, digest(messages, day=day), address, f"charter-digest-{members[0].id}"
                )
                outcomes += [rows_.Outcome(r.id) for r in members]
            except ChannelError as exc:
                outcomes += [rows_.Outcome(r.id, error=secrets.redact(str(exc))) for r in members]
        return outcomes

    def _follow_issues(self, policy: DeliveryPolicy, transports: dict[str, Transport]) -> int:
        channels = [n for n, c in policy.channels.items() if c.type in ISSUE_CHANNELS]
        if not channels:
            return 0
        last = self._leases.last_run(ISSUES_JOB)
        now = self._clock.now()
        if last is not None and now - last < dt.timedelta(seconds=policy.poll_issues_every):
            return 0
        holder = f"issues:{id(self)}"
        if not self._leases.acquire(ISSUES_JOB, holder, ttl=600):
            return 0
        closed = 0
        try:
            for row in rows_.open_issues(self._db, channels):
                tracker = transports.get(row.channel)
                if not isinstance(tracker, IssueTracker):
                    continue
                try:
                    done = tracker.is_closed(row.reference)
                except ChannelError as exc:
                    logger.warning("issue %s: %s", row.reference, exc)
                    continue
                if done:
                    self._close_task(row)
                    closed += 1
        finally:
            self._leases.release(ISSUES_JOB, holder, {"closed": closed})
        return closed

    def _close_task(self, row: Any) -> None:
        with contextlib.suppress(Conflict):  # already done in Charter
            self._tasks().complete(
                row.item_id,
                actor=f"{row.channel}:{row.reference}",
                note=f"issue {row.reference} was closed",
            )
        rows_.mark_issue_closed(self._db, row.id)

    # -- reading --------------------------------------------------------------------------------
    def states(self, item_type: str, item_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        found = rows_.states(self._db, item_type, item_ids)
        return {
            item: [
                {
                    "channel": r.channel,
                    "address": r.address or None,
                    "status": r.status,
                    "attempts": r.attempts,
                    "error": r.last_error,
                    "next_at": utc(r.next_at).isoformat() if r.status == "queued" else None,
                    "sent_at": utc(r.sent_at).isoformat() if r.sent_at else None,
                    "reference": r.reference,
                    "digest": bool(r.digest),
                }
                for r in rows
            ]
            for item, rows in found.items()
        }

    def counts(self) -> dict[str, int]:
        return rows_.counts(self._db)
