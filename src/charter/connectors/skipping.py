"""One bad record never costs the file: the rule every connector follows, in one place.

A connector maps raw records one at a time through :func:`each` (or guards one
mapping with :func:`guard`). A record that cannot be parsed or placed — a
missing field, an object where a list was expected, an ARN of an account the
batch is not for — is noted in the batch's :class:`~charter.domain.batch.Skipped`
with where it was and why, and the rest of the export is ingested. Errors of
the file itself (not JSON, too large, unreadable) still stop the ingest: they
come from the reader, before any record is mapped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from charter.connectors.streaming import Rec
from charter.domain.batch import Skipped
from charter.errors import InputTooLarge, InvalidInput

_T = TypeVar("_T")

#: What a malformed record makes mapping code raise besides our own InvalidInput
#: (``rec.data.get`` on a list, a number where a string was expected, a missing key).
_RECORD_ERRORS = (InvalidInput, KeyError, TypeError, AttributeError, ValueError, IndexError)


def reason(rec: Rec, exc: Exception) -> str:
    """Why ``rec`` was skipped, without repeating where it was."""
    if isinstance(exc, InvalidInput):
        field = exc.field or ""
        if field.startswith(rec.where):
            rest = field[len(rec.where) :].lstrip(".")
            return f"{rest}: {exc.message.strip()}" if rest else exc.message.strip()
        return str(exc)
    if not isinstance(rec.data, dict):
        return f"expected an object, found {type(rec.data).__name__}"
    return f"cannot read the record ({type(exc).__name__}: {exc})"


def guard(rec: Rec, skipped: Skipped, mapping: Callable[[Rec], _T]) -> _T | None:
    """``mapping(rec)``, or None with the record noted in ``skipped`` when it is malformed."""
    try:
        return mapping(rec)
    except InputTooLarge:
        raise
    except _RECORD_ERRORS as exc:
        skipped.add(rec.where, reason(rec, exc))
        return None


def each(records: Iterable[Rec], skipped: Skipped, mapping: Callable[[Rec], _T]) -> Iterator[_T]:
    """``mapping`` over ``records``, skipping (and noting) the malformed ones."""
    for rec in records:
        try:
            out = mapping(rec)
        except InputTooLarge:
            raise
        except _RECORD_ERRORS as exc:
            skipped.add(rec.where, reason(rec, exc))
            continue
        yield out


def flat(
    records: Iterable[Rec], skipped: Skipped, mapping: Callable[[Rec], Iterable[_T]]
) -> Iterator[_T]:
    """Like :func:`each` for a mapping that gives several results per record (all or none)."""
    for results in each(records, skipped, lambda rec: list(mapping(rec))):
        yield from results
