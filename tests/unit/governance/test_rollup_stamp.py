"""The rollup writes times on SQLite exactly as SQLAlchemy's DateTime type does, so the
rollup's MIN/MAX text comparisons and every reader agree with rows written by the ORM."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from charter.services.governance.rollup import _stamp

MOMENTS = [
    dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC),  # no microseconds: still six digits
    dt.datetime(2026, 11, 20, 9, 0, 1, 5, tzinfo=dt.UTC),
    dt.datetime(999, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC),  # a three-digit year
    dt.datetime(2026, 3, 29, 3, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),  # to UTC
]


def test_stamp_is_what_the_datetime_type_writes() -> None:
    engine = sa.create_engine("sqlite://")
    table = sa.Table("t", sa.MetaData(), sa.Column("at", sa.DateTime))
    with engine.begin() as connection:
        table.create(connection)
        for moment in MOMENTS:
            naive = moment.astimezone(dt.UTC).replace(tzinfo=None)
            connection.execute(table.insert().values(at=naive))
        written = [r[0] for r in connection.exec_driver_sql("SELECT CAST(at AS TEXT) FROM t")]
    assert written == [_stamp(m) for m in MOMENTS]
