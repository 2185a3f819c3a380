"""Human durations in charter files: ``30s``, ``15m``, ``1h``, ``90d``, ``2w``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> int:
    """Seconds from ``"15m"``-style text or a plain integer of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is text like '15m', '1h' or '90d'")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            if seconds <= 0:
                raise ValueError("a duration must be positive")
            return seconds
    raise ValueError(f"{value!r} is not a duration: write e.g. '30s', '15m', '1h', '90d', '2w'")


def format_duration(seconds: int) -> str:
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
