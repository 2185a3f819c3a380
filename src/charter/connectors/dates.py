"""Timestamps as exports write them, parsed into aware UTC datetimes or refused by name.

Every source has its own habits: AWS writes ISO 8601 with ``+00:00`` and the
credential report says ``N/A``, ``no_information`` or ``not_supported``;
GitHub adds milliseconds and a local offset (``2023-05-16T08:47:09.000-07:00``);
Slack counts seconds since the epoch (as a number or a string); GCP marks
"never expires" as ``9999-12-31T23:59:59Z``; some tools write RFC 2822
(``Tue, 13 Jan 2025 09:21:44 GMT``). All of those are accepted; anything else
raises :class:`~charter.errors.InvalidInput` naming the record and the field.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from typing import Any

from charter.errors import InvalidInput

#: Values that mean "no date" in some export.
NO_DATE = frozenset(
    {"", "n/a", "na", "none", "null", "never", "no_information", "not_supported", "-", "0"}
)
_FRACTION = re.compile(r"(\.\d{1,9})")
_EPOCH = re.compile(r"^\d{9,13}(\.\d+)?$")


def _from_epoch(seconds: float) -> dt.datetime:
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def parse_time(value: Any, *, where: str, field: str) -> dt.datetime | None:
    """An aware UTC datetime, ``None`` for "no date", or InvalidInput naming the record."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if value <= 0 else _from_epoch(float(value))
    if not isinstance(value, str):
        raise InvalidInput(f"{field} is not a date: {value!r}", field=f"{where}.{field}")
    text = value.strip()
    if text.lower() in NO_DATE:
        return None
    if _EPOCH.match(text):
        return _from_epoch(float(text))
    candidate = text.replace("Z", "+00:00").replace("z", "+00:00")
    # Python < 3.12 accepts 3 or 6 fractional digits only; normalise to 6.
    candidate = _FRACTION.sub(lambda m: (m.group(1) + "000000")[:7], candidate, count=1)
    if " " in candidate and "T" not in candidate and re.match(r"^\d{4}-\d\d-\d\d \d", candidate):
        candidate = candidate.replace(" ", "T", 1)
    candidate = re.sub(r"\s*(UTC|GMT)$", "+00:00", candidate)
    moment: dt.datetime | None
    try:
        moment = dt.datetime.fromisoformat(candidate)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            moment = None
    if moment is None:
        raise InvalidInput(
            f"{field} is not a date we can read: {value!r}", field=f"{where}.{field}"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    if moment.year >= 9999:  # "never" in GCP key validity
        return None
    return moment
