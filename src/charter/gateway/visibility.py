"""What an agent may ever be allowed: the filter behind ``tools/list``.

An agent sees a tool only if some allow rule of its charter could allow the
call (its action and resource patterns match and its validity window has not
ended) and no unconditional deny rule always forbids it. Conditions and
schedules are *not* evaluated here — they depend on the call's arguments and
the time — so a listed tool can still be denied; an unlisted one can never be
allowed (every call is decided regardless, so the filter is about not showing
an agent tools it cannot use, never about enforcement).

Pure functions over the charter; the same answer in-process and remote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from charter.domain.charter import Capability, CharterSpec
from charter.domain.patterns import Pattern, parse_pattern


def _unconditional(rule: Capability) -> bool:
    return not (rule.when or rule.schedule or rule.valid)


def _ended(rule: Capability, now: dt.datetime) -> bool:
    return bool(rule.valid and rule.valid.until and rule.valid.until <= now)


@dataclass(frozen=True, slots=True)
class Visibility:
    """A charter prepared for many "could it ever allow?" questions."""

    allows: tuple[tuple[Pattern, Pattern], ...]
    denies: tuple[tuple[Pattern, Pattern], ...]

    @classmethod
    def of(cls, charter: CharterSpec | None, now: dt.datetime | None = None) -> Visibility:
        """For a whole charter (nothing once it has expired)."""
        if charter is None:
            return cls((), ())
        now = now or dt.datetime.now(dt.UTC)
        if charter.expires and charter.expires < now.date():
            return cls((), ())
        return cls.of_rules(charter.allow, charter.deny, now)

    @classmethod
    def of_rules(
        cls,
        allow: Iterable[Capability],
        deny: Iterable[Capability],
        now: dt.datetime | None = None,
    ) -> Visibility:
        """For a charter's allow and deny rules."""
        now = now or dt.datetime.now(dt.UTC)
        allows = tuple(
            (parse_pattern(rule.action), parse_pattern(rule.resource))
            for rule in allow
            if not _ended(rule, now)
        )
        denies = tuple(
            (parse_pattern(rule.action), parse_pattern(rule.resource))
            for rule in deny
            if _unconditional(rule)
        )
        return cls(allows, denies)

    def may_allow(self, action: str, resource: str) -> bool:
        """Whether some allow rule could allow exactly this action on this resource."""
        if any(a.matches(action) and r.matches(resource) for a, r in self.denies):
            return False
        return any(a.matches(action) and r.matches(resource) for a, r in self.allows)

    def may_allow_some(self, action: str, resource: Pattern) -> bool:
        """Whether some allow rule could allow ``action`` on *some* resource ``resource`` matches.

        Used for resource templates (``tickets://{id}`` becomes ``tickets://*``).
        Deny rules are not subtracted: a deny that covers a whole template is rare
        and every read is decided anyway.
        """
        return any(a.matches(action) and intersects(r, resource) for a, r in self.allows)


def intersects(first: Pattern, second: Pattern) -> bool:
    """Whether some text matches both patterns (``*`` matches any run of characters).

    A dynamic programme over (position in first, position in second): a star
    may consume the other pattern's next character, or be skipped.
    """
    a = _tokens(first)
    b = _tokens(second)
    reachable = {(0, 0)}
    frontier = [(0, 0)]
    while frontier:
        i, j = frontier.pop()
        if i == len(a) and j == len(b):
            return True
        steps: list[tuple[int, int]] = []
        if i < len(a) and a[i] is None:
            steps += [(i + 1, j)]
            if j < len(b):
                steps += [(i, j + 1)]
        if j < len(b) and b[j] is None:
            steps += [(i, j + 1)]
            if i < len(a):
                steps += [(i + 1, j)]
        if i < len(a) and j < len(b) and a[i] is not None and a[i] == b[j]:
            steps += [(i + 1, j + 1)]
        for step in steps:
            if step not in reachable:
                reachable.add(step)
                frontier.append(step)
    return False


def _tokens(pattern: Pattern) -> list[str | None]:
    """Characters of the pattern, ``None`` for each wildcard."""
    out: list[str | None] = []
    for index, piece in enumerate(pattern.pieces):
        if index:
            out.append(None)
        out.extend(piece)
    return out


def template_pattern(uri_template: str) -> Pattern:
    """An RFC 6570 URI template as a pattern: each ``{...}`` expression becomes ``*``."""
    text: list[str] = []
    depth = 0
    for char in uri_template:
        if char == "{":
            if depth == 0:
                text.append("*")
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif depth == 0:
            text.append("\\" + char if char in "*\\" else char)
    return parse_pattern("".join(text)[:256] or "*", field="uriTemplate")
