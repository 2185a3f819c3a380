"""An audit event's change as lines people read: ``key: before → after``.

The stored summary is exact JSON for the chain; shown raw (or as a Python
``repr`` cut at a column width) it reads as noise. Each key becomes one line,
a value that is not text is compact JSON, and a long value ends in ``…`` with
the full event one ``--json`` (or the console's details) away.
"""

from __future__ import annotations

import json
from typing import Any

#: Longest value shown on a line; the JSON output has it all.
VALUE_WIDTH = 160


def _empty(value: Any) -> bool:
    """Nothing to say: a new key whose value is null or empty is left out."""
    return value is None or value in ("", [], {})


def value_text(value: Any, width: int = VALUE_WIDTH) -> str:
    """One value on one line: text as is, anything else as compact JSON, cut at ``width``."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def change_lines(before: Any, after: Any, width: int = VALUE_WIDTH) -> list[str]:
    """What changed, one ``key: value`` line per key (unchanged keys left out)."""
    if isinstance(before, dict) and isinstance(after, dict):
        lines = []
        for key in [*after, *(k for k in before if k not in after)]:
            if key not in after:
                lines.append(f"{key}: {value_text(before[key], width)} → (removed)")
            elif key not in before:
                if not _empty(after[key]):
                    lines.append(f"{key}: {value_text(after[key], width)}")
            elif before[key] != after[key]:
                old, new = value_text(before[key], width), value_text(after[key], width)
                lines.append(f"{key}: {old} → {new}")
        return lines
    if before is None and isinstance(after, dict):
        return [
            f"{key}: {value_text(value, width)}"
            for key, value in after.items()
            if not _empty(value)
        ]
    if after is None and isinstance(before, dict):
        return [f"{key}: {value_text(value, width)} → (removed)" for key, value in before.items()]
    lines = []
    if before is not None:
        lines.append(f"before: {value_text(before, width)}")
    if after is not None:
        lines.append(f"after: {value_text(after, width)}")
    return lines
