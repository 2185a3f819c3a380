"""What a connector hands to reconciliation: one source and account's view of the estate.

A :class:`Batch` is pure data. Its record streams may be lists or lazy
iterables (a connector streaming a multi-gigabyte export yields records as it
reads them); reconciliation consumes each stream once, in the order systems →
identities → credentials → grants, inside one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from charter.domain.estate import Credential, Grant, Identity, System


@dataclass(slots=True)
class Skipped:
    """Records a connector skipped, each named by where it was and why; the rest is ingested.

    One bad record never costs the file: the connector notes it here and goes on.
    The same record met twice (a second pass over the export) is counted once.
    """

    reasons: dict[str, str] = field(default_factory=dict)
    #: Warnings about whole parts of the source that could not be read (a live API that
    #: refused or does not exist there), not counted as records.
    notes: list[str] = field(default_factory=list)

    def add(self, where: str, reason: str) -> None:
        self.reasons.setdefault(where, reason)

    def note(self, warning: str) -> None:
        self.notes.append(warning)

    @property
    def count(self) -> int:
        return len(self.reasons)

    def warnings(self) -> list[str]:
        return [*self.notes, *(f"{where}: {reason}" for where, reason in self.reasons.items())]


@dataclass(frozen=True, slots=True)
class Batch:
    """Everything one export says about one ``source`` + ``account``.

    ``complete`` says the export is the whole picture of that scope, so records
    it no longer contains are marked gone; a partial export (one file of
    several) sets it ``False`` and only adds or updates.
    """

    source: str
    account: str
    systems: Iterable[System] = ()
    identities: Iterable[Identity] = ()
    credentials: Iterable[Credential] = ()
    grants: Iterable[Grant] = ()
    origin: tuple[str, ...] = field(default_factory=tuple)
    complete: bool = True
    #: Records of this scope the connector could not parse: filled as the streams are read.
    skipped: Skipped = field(default_factory=lambda: Skipped())

    @property
    def scope(self) -> str:
        return f"{self.source}:{self.account}"
