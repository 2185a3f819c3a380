"""The estate capability's read and review services, in one place for the interfaces.

``Services.estate`` gives ``inventory`` (identities, credentials), ``map``
(blast radius, who can reach, shared secrets, pictures) and ``shadow``
(discovered agents: list, adopt). Ingest is ``Services.reconcile``.
"""

from __future__ import annotations

from functools import cached_property

from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.inventory import InventoryService
from charter.services.map import EstateMapService
from charter.services.shadow import ShadowService
from charter.store.database import Database


class EstateServices:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    @cached_property
    def inventory(self) -> InventoryService:
        return InventoryService(self._db)

    @cached_property
    def map(self) -> EstateMapService:
        return EstateMapService(self._db, self._clock)

    @cached_property
    def shadow(self) -> ShadowService:
        return ShadowService(self._db, self._audit, self._clock)
