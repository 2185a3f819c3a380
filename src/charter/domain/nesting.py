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
from typing import Any

from charter.errors import InputTooDeep, InvalidInput

MAX_DEPTH = 64

_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_OTHERS = bytes(c for c in range(256) if c not in b'"[]{}')


def nests_deeper(data: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in ``data`` nest more than ``limit`` levels deep.

    Brackets inside strings do not count. Every step is a C-speed pass over
    bytes: escapes go, then all but quotes and brackets, then the strings, and
    each ``replace`` of ``()`` strips one level of the innermost containers, so
    what is left after ``limit`` rounds nests deeper. Malformed JSON gets some
    answer: the parser that runs next reports what is wrong with it.
    """
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:  # too few brackets to be too deep
        return False
    raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    shape = raw.translate(_BRACKETS, _OTHERS)
    if b'"' in shape:
        shape = b"".join(shape.split(b'"')[::2])  # even pieces lie outside strings
    for _ in range(limit):
        if not shape:
            return False
        shape = shape.replace(b"()", b"")
    return bool(shape)


def check_json_depth(
    data: bytes | str, *, source: str, field: str = "body", limit: int = MAX_DEPTH
) -> None:
    """Refuse ``data`` if it nests deeper than ``limit``; the error names the limit."""
    if nests_deeper(data, limit):
        raise too_deep(source, field=field, limit=limit)


def value_depth(value: Any, *, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of parsed data (dicts and lists); stops counting past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


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
