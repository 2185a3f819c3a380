"""A moment as a person types it ("next monday 10:00", "tomorrow 09:30", an ISO time).

Pure: the caller passes *now* and the timezone that times without an offset are
read in, so the same text always means the same instant in a test. A weekday is
the next one after today (on a Monday, "monday" is a week away; "today 10:00"
is today), because a question about "monday" asked on a Monday is usually about
the coming one, and because one fixed rule is easier to predict than two.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from charter.errors import InvalidInput

#: Shown when a text is not understood; names every form that is.
ACCEPTED_FORMS = (
    "ISO 8601 (2026-11-02T10:00:00Z), 'YYYY-MM-DD HH:MM', '[next] monday 10:00', "
    "'today|tomorrow|yesterday 09:30', 'now'; a trailing zone (UTC, +01:00, Europe/Berlin) "
    "is optional"
)

_WEEKDAYS = {
    name: index
    for index, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tues", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thur", "thurs", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        )
    )
    for name in names
}
_RELATIVE_DAYS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_moment(text: str, *, now: dt.datetime, zone: dt.tzinfo, field: str = "at") -> dt.datetime:
    """The aware instant *text* names, as seen from *now*; times without an offset are in *zone*.

    Raises ``InvalidInput`` (naming *field* and the accepted forms) for anything else.
    """
    words = text.strip().split()
    if not words:
        raise _refused(text, field)
    explicit = _zone(words[-1]) if len(words) > 1 else None
    if explicit is not None:
        words = words[:-1]
    tz = explicit or zone
    moment = _iso(" ".join(words), tz)
    if moment is None:
        moment = _spoken([word.lower() for word in words], now.astimezone(tz), tz)
    if moment is None:
        raise _refused(text, field)
    return moment


def _refused(text: str, field: str) -> InvalidInput:
    return InvalidInput(
        f"--{field} {text.strip()!r} is not a time Charter reads; use {ACCEPTED_FORMS}",
        field=field,
    )


def _iso(text: str, zone: dt.tzinfo) -> dt.datetime | None:
    if not text[:1].isdigit() or (":" not in text and len(text) != len("2026-11-02")):
        return None  # "10:00" alone is a clock time; a bare year or number is not a moment
    if _CLOCK.match(text):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _spoken(words: list[str], now: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
    if words == ["now"]:
        return now
    if len(words) >= 2 and words[-2] == "at":
        words = words[:-2] + words[-1:]  # "tomorrow at 09:30"
    if not words or _CLOCK.match(words[-1]) is None:
        return None  # a day without a clock time is ambiguous (midnight? the whole day?)
    clock = _clock(words[-1])
    day = _day(words[:-1], now.date())
    if clock is None or day is None:
        return None
    return dt.datetime.combine(day, clock, tzinfo=zone)


def _clock(text: str) -> dt.time | None:
    match = _CLOCK.match(text)
    if match is None:
        return None
    hour, minute, second = (int(part) if part else 0 for part in match.groups())
    if hour > 23 or minute > 59 or second > 59:
        return None
    return dt.time(hour, minute, second)


def _day(words: list[str], today: dt.date) -> dt.date | None:
    if not words:
        return today  # "10:00": today at ten
    if words[0] == "next":
        words = words[1:]
        if len(words) != 1 or words[0] not in _WEEKDAYS:
            return None  # "next tomorrow" and "next week" mean nothing exact
    if len(words) != 1:
        return None
    word = words[0]
    if word in _RELATIVE_DAYS:
        return today + dt.timedelta(days=_RELATIVE_DAYS[word])
    if word in _WEEKDAYS:
        ahead = (_WEEKDAYS[word] - today.weekday()) % 7 or 7
        return today + dt.timedelta(days=ahead)
    return None


def _zone(word: str) -> dt.tzinfo | None:
    if word.upper() in ("UTC", "Z", "GMT"):
        return dt.UTC
    offset = _OFFSET.match(word)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = dt.timedelta(hours=int(hours), minutes=int(minutes))
        if delta >= dt.timedelta(hours=24):
            return None
        return dt.timezone(-delta if sign == "-" else delta)
    if "/" not in word or not re.fullmatch(r"[A-Za-z0-9_+\-/]+", word):
        return None
    try:
        return ZoneInfo(word)
    except (ZoneInfoNotFoundError, ValueError):
        return None


__all__ = ["ACCEPTED_FORMS", "parse_moment"]
