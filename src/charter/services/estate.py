"""The estate capability's read and review services, in one place for the interfaces.

``Services.estate`` gives ``ingest`` (files, a tree, a live API), ``inventory``
(identities, credentials), ``map`` (blast radius, who can reach, shared secrets,
pictures) and ``shadow`` (discovered agents: list, adopt). Batches are written by
``Services.reconcile``.
"""

from __future__ import annotations

from functools import cached_property

from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.estate_ingest import EstateIngest
from charter.services.inventory import InventoryService
from charter.services.map import EstateMapService
from charter.services.reconcile import ReconcileService
from charter.services.shadow import ShadowService
from charter.store.database import Database


class EstateServices:
    def __init__(
        self, database: Database, audit: AuditService, clock: Clock, reconcile: ReconcileService
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._reconcile = reconcile

    @cached_property
    def ingest(self) -> EstateIngest:
        return EstateIngest(self._reconcile)

    @cached_property
    def inventory(self) -> InventoryService:
        return InventoryService(self._db)

    @cached_property
    def map(self) -> EstateMapService:
        return EstateMapService(self._db, self._clock)

    @cached_property
    def shadow(self) -> ShadowService:
        return ShadowService(self._db, self._audit, self._clock)
