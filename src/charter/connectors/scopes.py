"""Exports as they come: one file may span several accounts, projects or tenants.

Every connector splits such a file the same way: each scope (an AWS account, a
GCP project, an Entra tenant) is its own batch, so its own cleanup scope, and a
record whose scope cannot be told goes to the file's main scope (the one with
most records), where mapping it fails and it is skipped with a warning naming
it (:mod:`charter.connectors.skipping`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from charter.connectors.base import Stream
from charter.errors import InvalidInput

_T = TypeVar("_T")


def scopes_of(
    records: Iterable[_T], owner: Callable[[_T], str], *, what: str, field: str
) -> list[str]:
    """The scopes ``records`` cover, the one with most records first; none is an error."""
    counts: Counter[str] = Counter()
    for record in records:
        scope = owner(record)
        if scope:
            counts[scope] += 1
    if not counts:
        raise InvalidInput(f"no record names its {what}: cannot tell the {what}", field=field)
    return [scope for scope, _ in counts.most_common()]


def placed(
    records: Stream[_T],
    scope: str,
    owner: Callable[[_T], str],
    *,
    home: bool,
    everywhere: frozenset[str] = frozenset(),
) -> Stream[_T]:
    """The records of ``scope``: its own, those of ``everywhere`` scopes, and, for the
    ``home`` scope, those whose scope cannot be told.
    """

    def run() -> Iterator[_T]:
        for record in records:
            found = owner(record)
            if found == scope or found in everywhere or (home and not found):
                yield record

    return Stream(run)
