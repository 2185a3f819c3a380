"""The activity rollup: activities aggregated per (agent, identity, action, resource,
allowed, source), so an evaluation reads a few hundred thousand groups instead of
rescanning tens of millions of activity rows.

Activities are append-only with increasing ids. The rollup covers ids up to a
*settled* watermark (``meta`` key ``gov_rollup_settled``); rows above it (the
*tail*) are aggregated fresh by each evaluation and merged in memory.

Why "settled": on PostgreSQL, ids come from a sequence and transactions may
commit out of id order, so "the highest id I can see" does not mean every lower
id is visible yet. The watermark therefore only advances to the highest id an
evaluation saw at least ``evaluation.activity_settle`` seconds earlier (kept in
``finding_runs.max_activity_id``): by then every transaction that took a lower
id has long committed. SQLite has one writer at a time, so what a reader sees
is already settled and the watermark advances to the current maximum.

Counts are since the group was first seen; ``first``/``last`` bound them in time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.moments import utc
from charter.store import schema
from charter.store.governance_schema import activity_rollup, finding_runs

_A = schema.activities
_R = activity_rollup
WATERMARK = "gov_rollup_settled"
_CHUNK = 2000

#: (agent, identity or "", action, resource, allowed as 1/0/-1, source)
Key = tuple[str, str, str, str, int, str]


@dataclass(slots=True)
class Group:
    count: int
    first: dt.datetime
    last: dt.datetime

    def add(self, other: Group) -> None:
        self.count += other.count
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)


def max_activity_id(connection: Connection) -> int:
    return int(connection.execute(sa.select(sa.func.max(_A.c.id))).scalar() or 0)


def watermark(connection: Connection) -> int:
    value = connection.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.key == WATERMARK)
    ).scalar()
    return int(value or 0)


def settle_target(connection: Connection, *, now: dt.datetime, settle: int, current: int) -> int:
    """The highest activity id known to have no uncommitted id below it (see module doc)."""
    if connection.dialect.name == "sqlite" or settle == 0:
        return current
    cutoff = now - dt.timedelta(seconds=settle)
    value = connection.execute(
        sa.select(sa.func.max(finding_runs.c.max_activity_id)).where(
            finding_runs.c.started_at <= cutoff
        )
    ).scalar()
    return min(int(value or 0), current)


def _time(value: Any) -> dt.datetime:
    """A time from a raw driver row (SQLite: naive UTC text; PostgreSQL: epoch seconds)."""
    if isinstance(value, float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str):
        return dt.datetime.fromisoformat(
            value + "+00:00" if len(value) < 20 or value[-6] not in "+-" else value
        )
    return utc(value)


def _epoch(expression: str, mark: str) -> str:
    """PostgreSQL: a time as epoch seconds (decodes far faster than a zoned timestamp)."""
    return f"EXTRACT(EPOCH FROM {expression})::float8" if mark == "%s" else expression


def aggregate(
    connection: Connection, low: int, high: int, *, agent: str | None = None
) -> dict[Key, Group]:
    """Activities with ``low < id <= high`` (of one agent if given), grouped in one pass.

    Straight through the driver: a large estate has hundreds of thousands of groups, and
    per-row ORM processing would cost more than the aggregation itself.
    """
    if high <= low:
        return {}
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    where = f"id > {mark} AND id <= {mark}" + (f" AND agent = {mark}" if agent else "")
    statement = (
        "SELECT agent, COALESCE(identity, ''), action, resource, "  # noqa: S608 - fixed text
        "CASE WHEN allowed IS NULL THEN -1 WHEN allowed THEN 1 ELSE 0 END, source, "
        f"count(*), {_epoch('min(time)', mark)}, {_epoch('max(time)', mark)} "
        f"FROM activities WHERE {where} "
        "GROUP BY agent, COALESCE(identity, ''), action, resource, "
        "CASE WHEN allowed IS NULL THEN -1 WHEN allowed THEN 1 ELSE 0 END, source"
    )
    params = (low, high, agent) if agent else (low, high)
    groups: dict[Key, Group] = {}
    result = connection.exec_driver_sql(statement, params)
    for chunk in result.partitions(20000):
        for a, ident, action, resource, flag, source, count, first, last in chunk:
            groups[(a, ident, action, resource, int(flag), source)] = Group(
                int(count), _time(first), _time(last)
            )
    return groups


def stored(
    connection: Connection, since: dt.datetime, *, agent: str | None = None
) -> Iterator[tuple[Key, Group]]:
    """Rollup groups last seen at or after ``since`` (of one agent if given)."""
    postgres = connection.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    bound: Any = since if postgres else utc(since).strftime("%Y-%m-%d %H:%M:%S.%f")
    statement = (
        "SELECT agent, identity, action, resource, allowed, source, count, "  # noqa: S608
        f"{_epoch('first_time', mark)}, {_epoch('last_time', mark)} FROM activity_rollup "
        f"WHERE last_time >= {mark}" + (f" AND agent = {mark}" if agent else "")
    )
    result = connection.exec_driver_sql(statement, (bound, agent) if agent else (bound,))
    for chunk in result.partitions(20000):
        for a, ident, action, resource, flag, source, count, first, last in chunk:
            yield (
                (a, ident, action, resource, int(flag), source),
                Group(int(count), _time(first), _time(last)),
            )


def combine(*sources: Iterable[tuple[Key, Group]]) -> dict[Key, Group]:
    out: dict[Key, Group] = {}
    for source in sources:
        for key, group in source:
            known = out.get(key)
            if known is None:
                out[key] = Group(group.count, group.first, group.last)
            else:
                known.add(group)
    return out


def merge(connection: Connection, groups: dict[Key, Group], *, old: int, new: int) -> bool:
    """Add ``groups`` (activities ``old < id <= new``) to the rollup and move the watermark.

    Compare-and-set on the watermark: if another evaluation already moved it,
    nothing is added (it added the same rows) and False is returned.
    """
    if new <= old:
        return False
    meta = schema.meta
    if old == 0 and watermark(connection) == 0:
        exists = connection.execute(sa.select(meta.c.key).where(meta.c.key == WATERMARK)).first()
        if exists is None:
            connection.execute(sa.insert(meta).values(key=WATERMARK, value=0))
    moved = connection.execute(
        sa.update(meta).where(meta.c.key == WATERMARK, meta.c.value == old).values(value=new)
    )
    if moved.rowcount != 1:
        return False
    postgres = connection.dialect.name == "postgresql"
    rows = [
        (
            k[0][:128],
            k[1][:512],
            k[2][:256],
            k[3][:1024],
            k[4],
            k[5][:32],
            g.count,
            g.first if postgres else _stamp(g.first),
            g.last if postgres else _stamp(g.last),
        )
        for k, g in groups.items()
    ]
    columns = "agent, identity, action, resource, allowed, source, count, first_time, last_time"
    keys = "agent, identity, action, resource, allowed, source"
    least, greatest = ("LEAST", "GREATEST") if postgres else ("MIN", "MAX")
    upsert = (
        f"ON CONFLICT ({keys}) DO UPDATE SET count = activity_rollup.count + excluded.count, "
        f"first_time = {least}(activity_rollup.first_time, excluded.first_time), "
        f"last_time = {greatest}(activity_rollup.last_time, excluded.last_time)"
    )
    if postgres:  # COPY into a temporary table, then one upsert (hundreds of thousands of rows)
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE charter_rollup_new (LIKE activity_rollup) ON COMMIT DROP"
        )
        driver = connection.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY charter_rollup_new ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        connection.exec_driver_sql(
            f"INSERT INTO activity_rollup ({columns}) SELECT {columns} "  # noqa: S608
            f"FROM charter_rollup_new {upsert}"
        )
    else:
        statement = (
            f"INSERT INTO activity_rollup ({columns}) VALUES ({', '.join('?' * 9)}) {upsert}"  # noqa: S608
        )
        for start in range(0, len(rows), 20000):
            connection.exec_driver_sql(statement, rows[start : start + 20000])
    return True


def _stamp(moment: dt.datetime) -> str:
    """SQLite's stored form of a time (what the DateTime type writes): naive UTC text,
    microseconds always, the year in four digits. ``isoformat`` writes it in C, about twice
    as fast as ``strftime`` (a cold evaluation stamps two per activity group)."""
    return utc(moment).replace(tzinfo=None).isoformat(" ", "microseconds")


def agent_usage(connection: Connection, agent: str, since: dt.datetime) -> dict[Key, Group]:
    """One agent's activity groups since ``since``: the rollup plus what it has not covered yet."""
    low = watermark(connection)
    return combine(
        stored(connection, since, agent=agent),
        aggregate(connection, low, max_activity_id(connection), agent=agent).items(),
    )
