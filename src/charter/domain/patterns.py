"""Capability patterns: the one pattern language of charters, roles and org policy.

Semantics (the same as Cedar's ``like`` operator, so the Cedar export agrees):

* A pattern is matched against the *whole* action name (``tickets.read``) or the
  whole resource (``zendesk:tickets/4711``).
* ``*`` matches any run of characters, including none and including the
  separators ``.``, ``:`` and ``/``. ``zendesk:tickets/*`` matches
  ``zendesk:tickets/4711`` and ``zendesk:tickets/4711/comments``.
* Every other character matches itself. Matching is case-sensitive.
* ``\\*`` is a literal star; ``\\\\`` a literal backslash. No other escapes exist.
* Patterns are printable, without white space, at most 256 characters and at most
  8 wildcards, so matching stays linear and cannot be made to blow up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from charter.errors import InvalidInput

MAX_PATTERN_LENGTH = 256
MAX_WILDCARDS = 8

_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed pattern: literal pieces between wildcards."""

    text: str
    pieces: tuple[str, ...]  # literal parts; wildcards sit between consecutive pieces

    @property
    def is_exact(self) -> bool:
        return len(self.pieces) == 1

    @property
    def literal_prefix(self) -> str:
        return self.pieces[0]

    def matches(self, value: str) -> bool:
        pieces = self.pieces
        count = len(pieces)
        if count == 1:
            return value == pieces[0]
        first, last = pieces[0], pieces[-1]
        if len(value) < len(first) + len(last):
            return False
        if not value.startswith(first) or not value.endswith(last):
            return False
        if count == 2:  # one wildcard (the common shape): nothing in between to find
            return True
        position = len(first)
        end = len(value) - len(last)
        for middle in pieces[1:-1]:
            found = value.find(middle, position, end)
            if found < 0:
                return False
            position = found + len(middle)
        return True


class _PatternError(ValueError):
    """A bad pattern; :func:`parse_pattern` re-raises it as InvalidInput naming the field."""


def _split(text: str) -> tuple[str, ...]:
    if "\\" not in text:  # the common case: no escapes, split in C
        return tuple(text.split("*"))
    pieces: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            if char not in "*\\":
                raise _PatternError(
                    f"invalid escape '\\{char}' in pattern {text!r}: only \\* and \\\\ exist"
                )
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise _PatternError(f"pattern {text!r} ends with a lone backslash")
    pieces.append("".join(current))
    return tuple(pieces)


@lru_cache(maxsize=65536)
def _parse(text: str) -> Pattern:
    if len(text) > MAX_PATTERN_LENGTH:
        raise _PatternError(
            f"pattern is {len(text)} characters long; the limit is {MAX_PATTERN_LENGTH}"
        )
    if _FORBIDDEN.search(text):
        raise _PatternError(f"pattern {text!r} contains white space or control characters")
    pieces = _split(text)
    if len(pieces) - 1 > MAX_WILDCARDS:
        raise _PatternError(
            f"pattern {text!r} has {len(pieces) - 1} wildcards; the limit is {MAX_WILDCARDS}"
        )
    if len(pieces) > 2:  # '**' means the same as '*': drop empty middle pieces
        pieces = (pieces[0], *(p for p in pieces[1:-1] if p), pieces[-1])
    return Pattern(text=text, pieces=pieces)


def parse_pattern(text: str, field: str = "pattern") -> Pattern:
    """Validate and parse ``text``; raise :class:`InvalidInput` naming ``field``.

    Parsed patterns are cached (charters repeat the same few patterns), so
    loading thousands of charters parses each distinct pattern once.
    """
    if not isinstance(text, str) or not text:
        raise InvalidInput("a pattern must be a non-empty string", field=field)
    try:
        return _parse(text)
    except _PatternError as exc:
        raise InvalidInput(str(exc), field=field) from None


def matches(pattern: str, value: str) -> bool:
    """Match one pattern text against a value (parses through a cache)."""
    return parse_pattern(pattern).matches(value)


def split_resource(resource: str) -> tuple[str, str]:
    """``zendesk:tickets/4711`` → (``zendesk``, ``tickets/4711``). No colon: (resource, "")."""
    system, sep, path = resource.partition(":")
    if not sep:
        return resource, ""
    return system, path


_STAR = object()  # a wildcard position inside a pattern, when patterns are compared


def _tokens(pattern: Pattern) -> list[object]:
    out: list[object] = []
    for index, piece in enumerate(pattern.pieces):
        if index:
            out.append(_STAR)
        out.extend(piece)
    return out


def covers(outer: Pattern, inner: Pattern) -> bool:
    """Whether every value ``inner`` matches is also matched by ``outer`` (L(inner) ⊆ L(outer)).

    Decided by matching ``outer`` against ``inner`` read as text in which each of
    ``inner``'s wildcards is a character no literal can equal: only a wildcard of
    ``outer`` may absorb it. That is exact, because a wildcard of ``inner`` can
    always produce a character that ``outer`` does not spell out. Used to
    intersect a charter with a person's roles (delegation) without enumerating values.
    """
    if outer.pieces == ("", ""):
        return True
    text = _tokens(inner)
    pattern = _tokens(outer)
    # reachable[j]: outer's prefix consumed so far can match text[:j]
    reachable = [False] * (len(text) + 1)
    reachable[0] = True
    for token in pattern:
        if token is _STAR:
            seen = False
            for j in range(len(text) + 1):
                seen = seen or reachable[j]
                reachable[j] = seen
        else:
            for j in range(len(text), 0, -1):
                reachable[j] = (
                    reachable[j - 1] and text[j - 1] is not _STAR and text[j - 1] == token
                )
            reachable[0] = False
    return reachable[len(text)]
