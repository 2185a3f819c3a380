"""The delivery table's use cases: route new items, claim due rows, record outcomes.

Routing inserts one row per (item, channel, address) with ``ON CONFLICT DO
NOTHING``, so routing twice (two workers, a restart) adds nothing. Claiming
takes due rows for one worker until a deadline — ``SELECT … FOR UPDATE SKIP
LOCKED`` on PostgreSQL; on SQLite the write transaction already holds the
database's write lock — and a conditional UPDATE that only takes rows nobody
holds. Outcomes are written only by the holder of the claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from charter.domain.governance.channels import PERSON_CHANNELS, DeliveryPolicy
from charter.domain.moments import utc
from charter.store import schema
from charter.store.database import Database
from charter.store.delivery_schema import deliveries
from charter.store.governance_schema import governance_tasks, notices

_D, _N, _T = deliveries, notices, governance_tasks
UNROUTED = "-"


@dataclass(frozen=True, slots=True)
class Outcome:
    id: int
    error: str | None = None
    reference: str | None = None
    #: not attempted (the claim was about to lapse): given back as it was
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class _Item:
    item_type: str
    item_id: str
    kind: str
    owner: str | None


def next_digest(moment: dt.datetime, minutes: int) -> dt.datetime:
    """The first daily digest time (UTC) at or after ``moment``."""
    start = moment.replace(hour=minutes // 60, minute=minutes % 60, second=0, microsecond=0)
    return start if start >= moment else start + dt.timedelta(days=1)


def _new_items(connection: Connection, since: dt.datetime, limit: int) -> list[_Item]:
    routed_n = sa.exists().where(
        _D.c.item_type == "notice", _D.c.item_id == sa.cast(_N.c.id, sa.String)
    )
    found = [
        _Item("notice", str(r.id), r.kind, r.recipient)
        for r in connection.execute(
            sa.select(_N.c.id, _N.c.kind, _N.c.recipient)
            .where(_N.c.created_at >= since, ~routed_n)
            .order_by(_N.c.id)
            .limit(limit)
        )
    ]
    _A = schema.agents
    routed_t = sa.exists().where(_D.c.item_type == "task", _D.c.item_id == _T.c.id)
    found += [
        _Item("task", r.id, r.kind, r.assignee or r.owner)
        for r in connection.execute(
            sa.select(_T.c.id, _T.c.kind, _T.c.assignee, _A.c.owner)
            .outerjoin(_A, _A.c.name == _T.c.agent)
            .where(_T.c.status == "open", _T.c.created_at >= since, ~routed_t)
            .order_by(_T.c.created_at, _T.c.id)
            .limit(limit)
        )
    ]
    return found


def _managers(connection: Connection, emails: Iterable[str]) -> dict[str, str]:
    """Each person's manager in the directory, unless the manager has left."""
    wanted = sorted({e for e in emails if e})
    out: dict[str, str] = {}
    _P = schema.people
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = connection.execute(sa.select(_P.c.email, _P.c.manager).where(_P.c.email.in_(chunk)))
        out.update({r.email: r.manager for r in rows if r.manager})
    departed: set[str] = set()
    managers = sorted(set(out.values()))
    for start in range(0, len(managers), 500):
        departed |= set(
            connection.execute(
                sa.select(_P.c.email).where(
                    _P.c.email.in_(managers[start : start + 500]), _P.c.status != "active"
                )
            ).scalars()
        )
    return {person: boss for person, boss in out.items() if boss not in departed}


def route_new(database: Database, policy: DeliveryPolicy, now: dt.datetime, limit: int) -> int:
    """Give every new notice and open task its delivery rows; how many items were routed."""
    with database.write() as connection:
        items = _new_items(connection, now - dt.timedelta(seconds=policy.since), limit)
        if not items:
            return 0
        managers = _managers(connection, (i.owner or "" for i in items))
        rows: list[dict[str, Any]] = []
        for item in items:
            targets: dict[tuple[str, str], bool] = {}
            for route in policy.routes:
                if not route.matches(item.item_type, item.kind):
                    continue
                if policy.channels[route.channel].type not in PERSON_CHANNELS:
                    targets.setdefault((route.channel, ""), route.digest)
                    continue
                people = {"owner": item.owner, "manager": managers.get(item.owner or "")}
                for target in route.to:
                    resolved = people.get(target, target)
                    if resolved:
                        targets.setdefault((route.channel, resolved.lower()), route.digest)
            if not targets:
                targets[(UNROUTED, "")] = False
            for (channel, address), digest in targets.items():
                due = next_digest(now, policy.digest_minutes()) if digest else now
                rows.append(
                    {
                        "item_type": item.item_type,
                        "item_id": item.item_id,
                        "kind": item.kind[:32],
                        "channel": channel,
                        "address": address,
                        "digest": digest,
                        "status": "unrouted" if channel == UNROUTED else "queued",
                        "attempts": 0,
                        "next_at": due,
                        "created_at": now,
                    }
                )
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        for start in range(0, len(rows), 1000):
            connection.execute(
                dialect.insert(_D).on_conflict_do_nothing(
                    index_elements=["item_type", "item_id", "channel", "address"]
                ),
                rows[start : start + 1000],
            )
        return len(items)


def claim(database: Database, holder: str, now: dt.datetime, *, limit: int, ttl: int) -> list[Any]:
    """Take up to ``limit`` due rows for ``holder`` until ``now + ttl``."""
    free = sa.or_(_D.c.claimed_until.is_(None), _D.c.claimed_until < now)
    with database.write() as connection:
        candidates = (
            sa.select(_D.c.id)
            .where(_D.c.status == "queued", _D.c.next_at <= now, free)
            .order_by(_D.c.next_at, _D.c.id)
            .limit(limit)
        )
        if database.is_postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list(connection.execute(candidates).scalars())
        if not ids:
            return []
        until = now + dt.timedelta(seconds=ttl)
        connection.execute(
            sa.update(_D)
            .where(_D.c.id.in_(ids), _D.c.status == "queued", free)
            .values(claimed_by=holder, claimed_until=until)
        )
        return list(
            connection.execute(
                sa.select(_D).where(_D.c.id.in_(ids), _D.c.claimed_by == holder).order_by(_D.c.id)
            )
        )


def record(
    database: Database,
    holder: str,
    outcomes: Sequence[Outcome],
    now: dt.datetime,
    policy: DeliveryPolicy,
) -> None:
    """Write what happened to claimed rows (only rows ``holder`` still holds)."""
    if not outcomes:
        return
    mine = [_D.c.claimed_by == holder, _D.c.status == "queued"]
    with database.write() as connection:
        sent = [o for o in outcomes if o.error is None]
        if sent:
            connection.execute(
                sa.update(_D)
                .where(_D.c.id == sa.bindparam("row_id"), *mine)
                .values(
                    status="sent",
                    sent_at=now,
                    attempts=_D.c.attempts + 1,
                    reference=sa.bindparam("ref"),
                    external_state=sa.bindparam("state"),
                    last_error=None,
                    claimed_by=None,
                    claimed_until=None,
                ),
                [
                    {
                        "row_id": o.id,
                        "ref": o.reference,
                        "state": "open" if o.reference else None,
                    }
                    for o in sent
                ],
            )
        failed = [o for o in outcomes if o.error is not None]
        attempts = dict(
            connection.execute(
                sa.select(_D.c.id, _D.c.attempts).where(_D.c.id.in_([o.id for o in failed]))
            ).all()
            if failed
            else []
        )
        for outcome in failed:
            tries = int(attempts.get(outcome.id, 0)) + 1
            final = tries >= policy.retry.attempts
            connection.execute(
                sa.update(_D)
                .where(_D.c.id == outcome.id, *mine)
                .values(
                    status="failed" if final else "queued",
                    attempts=tries,
                    last_error=(outcome.error or "")[:2000],
                    next_at=now + dt.timedelta(seconds=policy.retry.delay(tries)),
                    claimed_by=None,
                    claimed_until=None,
                )
            )


def release(database: Database, holder: str, ids: Sequence[int]) -> None:
    """Give back rows claimed but not attempted (the pass ran out of time)."""
    if not ids:
        return
    with database.write() as connection:
        connection.execute(
            sa.update(_D)
            .where(_D.c.id.in_(list(ids)), _D.c.claimed_by == holder)
            .values(claimed_by=None, claimed_until=None)
        )


def open_issues(database: Database, channels: Sequence[str], limit: int = 500) -> list[Any]:
    """Issues opened for tasks that are still open (a task done in Charter is not polled)."""
    with database.read() as connection:
        return list(
            connection.execute(
                sa.select(_D)
                .join(_T, _T.c.id == _D.c.item_id)
                .where(
                    _D.c.item_type == "task",
                    _D.c.status == "sent",
                    _D.c.external_state == "open",
                    _D.c.channel.in_(list(channels)),
                    _T.c.status == "open",
                )
                .order_by(_D.c.sent_at)
                .limit(limit)
            )
        )


def mark_issue_closed(database: Database, row_id: int) -> None:
    with database.write() as connection:
        connection.execute(
            sa.update(_D)
            .where(_D.c.id == row_id, _D.c.external_state == "open")
            .values(external_state="closed")
        )


def states(database: Database, item_type: str, item_ids: Sequence[str]) -> dict[str, list[Any]]:
    """The delivery rows of some items (``charter notices`` shows them)."""
    out: dict[str, list[Any]] = {}
    if not item_ids:
        return out
    with database.read() as connection:
        for start in range(0, len(item_ids), 500):
            rows = connection.execute(
                sa.select(_D)
                .where(
                    _D.c.item_type == item_type,
                    _D.c.item_id.in_(list(item_ids[start : start + 500])),
                    _D.c.status != "unrouted",
                )
                .order_by(_D.c.id)
            )
            for row in rows:
                out.setdefault(row.item_id, []).append(row)
    return out


def counts(database: Database) -> dict[str, int]:
    with database.read() as connection:
        rows = connection.execute(sa.select(_D.c.status, sa.func.count()).group_by(_D.c.status))
        return {str(status): int(n) for status, n in rows}


def load_items(
    connection: Connection, rows: Sequence[Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The notices and tasks behind claimed rows, by id."""
    notice_ids = sorted({int(r.item_id) for r in rows if r.item_type == "notice"})
    task_ids = sorted({r.item_id for r in rows if r.item_type == "task"})
    found_n: dict[str, Any] = {}
    found_t: dict[str, Any] = {}
    for start in range(0, len(notice_ids), 500):
        chunk = notice_ids[start : start + 500]
        for r in connection.execute(sa.select(_N).where(_N.c.id.in_(chunk))):
            found_n[str(r.id)] = r
    for start in range(0, len(task_ids), 500):
        chunk_t = task_ids[start : start + 500]
        for r in connection.execute(sa.select(_T).where(_T.c.id.in_(chunk_t))):
            found_t[r.id] = r
    return found_n, found_t


def aware(value: dt.datetime | None) -> dt.datetime | None:
    return utc(value) if value is not None else None
