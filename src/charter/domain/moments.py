"""Moments as the domain compares them: aware, in UTC, with a fixed offset."""

from __future__ import annotations

import datetime as dt


def utc(moment: dt.datetime) -> dt.datetime:
    """Aware UTC with a fixed offset (SQLite hands back naive datetimes, which the store writes
    in UTC; psycopg a ZoneInfo zone, which is slow in arithmetic)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo is dt.UTC else moment.astimezone(dt.UTC)
