"""How deep a JSON (or YAML) document may nest, checked before a recursive parser sees it.

``json.loads`` and the YAML composer recurse once per level: a body of 100,000
``[`` raises ``RecursionError`` (and ``orjson`` refuses past 1,024, its encoder
past 254). No document Charter reads needs more than a few levels, so every
input is held to :data:`MAX_DEPTH` and a deeper one is refused with the limit
named, instead of crashing the parser.

:func:`nests_deeper` scans the raw bytes (strings skipped) without building
anything, so a front door can refuse a deep body before parsing it; the common
case, fewer brackets than the limit, is two ``bytes.count`` calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import accumulate, cycle
from operator import mul
from typing import Any

from charter.errors import InputTooDeep, InvalidInput

MAX_DEPTH = 64

_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_RUNS = re.compile(rb"\(+|\)+")
_OTHERS = bytes(c for c in range(256) if c not in b'"[]{}')


def nests_deeper(data: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in ``data`` nest more than ``limit`` levels deep.

    Brackets inside strings do not count. Escapes go, then all but quotes and
    brackets (C-speed passes over bytes), then the strings. Each ``replace`` of
    ``()`` then strips one level off every container, cheap while it shrinks the
    shape a lot (wide documents); once it does not (towers of brackets), the
    depth left is the highest running total over the runs of ``(`` and ``)``.
    Linear either way. Malformed JSON gets some answer: the parser that runs
    next reports what is wrong with it.
    """
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:  # too few brackets to be too deep
        return False
    raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    shape = raw.translate(_BRACKETS, _OTHERS)
    if b'"' in shape:
        shape = b"".join(shape.split(b'"')[::2])  # even pieces lie outside strings
    for stripped in range(limit):
        if not shape:
            return False
        before = len(shape)
        shape = shape.replace(b"()", b"")
        if (before - len(shape)) * 8 < len(shape):
            return _run_depth(shape) > limit - stripped - 1
    return bool(shape)


def _run_depth(shape: bytes) -> int:
    """The deepest running total of a string of ``(`` and ``)``, one step per run."""
    if not shape:
        return 0
    signs = cycle((1, -1) if shape[:1] == b"(" else (-1, 1))
    lengths = (run.end() - run.start() for run in _RUNS.finditer(shape))
    steps: Iterator[int] = map(mul, lengths, signs)
    return max(accumulate(steps))


def check_json_depth(
    data: bytes | str, *, source: str, field: str = "body", limit: int = MAX_DEPTH
) -> None:
    """Refuse ``data`` if it nests deeper than ``limit``; the error names the limit."""
    if nests_deeper(data, limit):
        raise too_deep(source, field=field, limit=limit)


def too_deep(source: str, *, field: str = "body", limit: int = MAX_DEPTH) -> InputTooDeep:
    return InputTooDeep(
        f"{source} nests deeper than {limit} levels (the limit for any JSON or YAML input)",
        field=field,
    )


def load_json(
    text: bytes | str, *, source: str, field: str = "file", limit: int = MAX_DEPTH
) -> Any:
    """``json.loads`` that refuses deep nesting and names the source on a syntax error."""
    check_json_depth(text, source=source, field=field, limit=limit)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source} is not valid JSON: {exc}", field=field) from exc
