"""What reconciliation reports, and the attribution hook it calls inside its transaction.

:class:`ReconcileResult` holds one :class:`KindCounts` per kind of record (with a
sample of the ids, the counts always complete); its ``summary`` is the payload of
the ``estate.ingest`` audit event and what ``charter discover`` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.batch import Batch
from charter.domain.estate import Credential, Identity

#: How many ids per kind an audit event names (the counts are always complete).
SAMPLE = 20


class AttributionHook(Protocol):
    """Decides, inside the ingest transaction, which agent and owner records belong to.

    ``existing`` maps id → the agent stored for that record (missing for a new
    record), so an attribution made earlier (a shadow agent) can be kept.
    """

    def identities(
        self,
        connection: Connection,
        records: Sequence[Identity],
        existing: Mapping[str, str | None],
    ) -> list[Identity]: ...

    def credentials(
        self,
        connection: Connection,
        records: Sequence[Credential],
        existing: Mapping[str, str | None],
    ) -> list[Credential]: ...

    def finish(self, connection: Connection) -> list[EventDraft]:
        """Audit events for what attribution created (shadow agents)."""
        ...


#: Builds one attribution pass for a batch: (connection, batch, actor) → hook.
AttributionFactory = Callable[[Connection, Batch, str], AttributionHook]


@dataclass(slots=True)
class KindCounts:
    """What happened to one kind of record in one ingest."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    gone: int = 0
    created_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)
    gone_ids: list[str] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.gone)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "gone": self.gone,
        }
        for name in ("created_ids", "updated_ids", "gone_ids"):
            ids = getattr(self, name)
            if ids:
                out[name] = ids
        return out

    def _note(self, bucket: str, record_id: str) -> None:
        setattr(self, bucket, getattr(self, bucket) + 1)
        ids: list[str] = getattr(self, f"{bucket}_ids")
        if len(ids) < SAMPLE:
            ids.append(record_id)

    def note_many(self, bucket: str, first_ids: Sequence[str], count: int) -> None:
        """Count ``count`` records at once; ``first_ids`` are (at least) the first of them,
        in order.
        """
        if not count:
            return
        setattr(self, bucket, getattr(self, bucket) + count)
        ids: list[str] = getattr(self, f"{bucket}_ids")
        ids.extend(first_ids[: SAMPLE - len(ids)])


@dataclass(slots=True)
class ReconcileResult:
    """The outcome of one ``apply``: counts per kind and the events written."""

    source: str
    account: str
    systems: KindCounts = field(default_factory=KindCounts)
    identities: KindCounts = field(default_factory=KindCounts)
    credentials: KindCounts = field(default_factory=KindCounts)
    grants: KindCounts = field(default_factory=KindCounts)
    events: list[int] = field(default_factory=list)
    shadow_agents: list[str] = field(default_factory=list)
    #: How many records the connector skipped; the rest of the export was ingested.
    skipped: int = 0
    #: Why: "where: why" per skipped record, and parts of the source that could not be read.
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            c.changed for c in (self.systems, self.identities, self.credentials, self.grants)
        ) or bool(self.shadow_agents)

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "account": self.account,
            "systems": self.systems.summary(),
            "identities": self.identities.summary(),
            "credentials": self.credentials.summary(),
            "grants": self.grants.summary(),
            "shadow_agents": self.shadow_agents,
            "skipped": self.skipped,
            "warnings": self.warnings,
        }
