"""``--at`` as a person types it: pure, given a now and a timezone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from charter.domain.typed_moments import parse_moment
from charter.errors import InvalidInput

BERLIN = ZoneInfo("Europe/Berlin")
# Wednesday 2026-11-04, 15:00 in Berlin
NOW = dt.datetime(2026, 11, 4, 15, 0, tzinfo=BERLIN)


def at(text: str, *, now: dt.datetime = NOW, zone: dt.tzinfo = BERLIN) -> dt.datetime:
    return parse_moment(text, now=now, zone=zone)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("next monday 10:00", dt.datetime(2026, 11, 9, 10, 0, tzinfo=BERLIN)),
        ("monday 10:00", dt.datetime(2026, 11, 9, 10, 0, tzinfo=BERLIN)),
        ("Mon 10:00", dt.datetime(2026, 11, 9, 10, 0, tzinfo=BERLIN)),
        ("friday 08:15:30", dt.datetime(2026, 11, 6, 8, 15, 30, tzinfo=BERLIN)),
        ("thursday at 9:05", dt.datetime(2026, 11, 5, 9, 5, tzinfo=BERLIN)),
        ("tomorrow 09:30", dt.datetime(2026, 11, 5, 9, 30, tzinfo=BERLIN)),
        ("today 23:59", dt.datetime(2026, 11, 4, 23, 59, tzinfo=BERLIN)),
        ("yesterday 00:00", dt.datetime(2026, 11, 3, 0, 0, tzinfo=BERLIN)),
        ("10:00", dt.datetime(2026, 11, 4, 10, 0, tzinfo=BERLIN)),
        ("2027-03-01 10:00", dt.datetime(2027, 3, 1, 10, 0, tzinfo=BERLIN)),
        ("2027-03-01", dt.datetime(2027, 3, 1, 0, 0, tzinfo=BERLIN)),
        ("2026-11-02T10:00:00Z", dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)),
        ("2026-11-02T10:00:00+02:00", dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)),
        ("  2026-11-02t10:00:00z ", dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)),
        ("now", NOW),
    ],
)
def test_accepted_forms(text: str, expected: dt.datetime) -> None:
    moment = at(text)
    assert moment.tzinfo is not None
    assert moment == expected


def test_today_is_that_weekday_means_next_weeks() -> None:
    # NOW is a Wednesday: "wednesday" and "next wednesday" are a week away, "today" is today
    assert at("wednesday 10:00").date() == dt.date(2026, 11, 11)
    assert at("next wednesday 10:00").date() == dt.date(2026, 11, 11)
    assert at("today 10:00").date() == dt.date(2026, 11, 4)
    # the day before: one day ahead, never eight
    assert at("thursday 10:00").date() == dt.date(2026, 11, 5)
    # a Sunday asks about Monday: tomorrow
    sunday = dt.datetime(2026, 11, 8, 22, 0, tzinfo=BERLIN)
    assert at("next monday 10:00", now=sunday).date() == dt.date(2026, 11, 9)


def test_the_day_is_the_zones_day_not_now_s() -> None:
    # 23:30 UTC on Sunday is already Monday 00:30 in Berlin: "today" is Monday there
    late = dt.datetime(2026, 11, 8, 23, 30, tzinfo=dt.UTC)
    assert at("today 10:00", now=late).date() == dt.date(2026, 11, 9)
    assert at("today 10:00", now=late, zone=dt.UTC).date() == dt.date(2026, 11, 8)


def test_a_trailing_zone_overrides_the_default() -> None:
    assert at("monday 10:00 UTC") == dt.datetime(2026, 11, 9, 10, 0, tzinfo=dt.UTC)
    assert at("2027-03-01 10:00 +05:30") == dt.datetime(2027, 3, 1, 4, 30, tzinfo=dt.UTC)
    tokyo = at("tomorrow 09:00 Asia/Tokyo")
    assert tokyo == dt.datetime(2026, 11, 5, 0, 0, tzinfo=dt.UTC)


def test_naive_iso_is_read_in_the_given_zone() -> None:
    assert at("2026-11-02T10:00:00", zone=dt.UTC) == dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
    assert at("2026-11-02T10:00:00") == dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


def test_daylight_saving_is_the_zone_s() -> None:
    summer = at("2027-07-01 10:00")
    assert summer.utcoffset() == dt.timedelta(hours=2)
    assert at("2027-01-04 10:00").utcoffset() == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "yesterday",
        "next monday",
        "monday",
        "next week 10:00",
        "next tomorrow 10:00",
        "someday 10:00",
        "monday 25:00",
        "monday 10:60",
        "monday 10:00 Mars/Olympus",
        "monday 10:00 +24:00",
        "2027-02-30 10:00",
        "2027",
        "12",
        "in two hours",
        "monday tuesday 10:00",
    ],
)
def test_anything_else_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        at(text)
    assert refused.value.field == "at"
    message = str(refused.value)
    assert message.startswith("at: --at ")
    assert "ISO 8601" in message and "next] monday 10:00" in message and "tomorrow" in message
    assert "\n" not in message
