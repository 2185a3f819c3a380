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

    @property
    def scope(self) -> str:
        return f"{self.source}:{self.account}"
