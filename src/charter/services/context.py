"""The service container: one per process, built from settings, handed to every interface.

The CLI, the API, the gateway and the worker all call these services; none of
them talks to the store directly. :func:`process_services` is that one container,
so every interface builds it the same way and a process that runs several of them
(``charter serve``, ``charter gateway serve``) shares one store connection pool.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from pathlib import Path

from charter.config import HOME_ENV, Settings, check_home
from charter.errors import InvalidInput
from charter.services.agent_registry import RegistryService
from charter.services.attribution import AttributionService
from charter.services.audit import AuditService
from charter.services.audit_checkpoints import CheckpointTarget
from charter.services.audit_keys import AuditKeyring
from charter.services.auth import AuthService
from charter.services.call_approvals import CallApprovalService
from charter.services.clock import Clock, SystemClock
from charter.services.decisions import DecisionService
from charter.services.drafts import DraftService
from charter.services.estate import EstateServices
from charter.services.governance.service import GovernanceService
from charter.services.people import PeopleService
from charter.services.reconcile import ReconcileService
from charter.services.scan_records import ScanRecorder
from charter.services.search import PAGE_KEY_PURPOSE, SearchService
from charter.services.siem import SiemExport
from charter.services.ssf.service import SsfService
from charter.services.tokens.keys import MasterKey
from charter.services.tokens.service import TokenService
from charter.services.whatif import WhatIfService
from charter.store.database import Database, open_database
from charter.store.private_files import private_dir


class Services:
    def __init__(self, database: Database, settings: Settings, clock: Clock | None = None) -> None:
        self.db = database
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, clock: Clock | None = None
    ) -> Services:
        settings = settings or Settings.from_env()
        prepare_home(settings.home)
        return cls(open_database(settings.database_url), settings, clock)

    @cached_property
    def audit(self) -> AuditService:
        target = CheckpointTarget(
            self.settings.audit_checkpoint_dir, self.settings.audit_checkpoint_url
        )
        audit = AuditService(self.db, self.clock, AuditKeyring(self.settings.home), target)
        # Shared Signals: SETs are queued in the transaction of the change they report
        audit.listeners.append(
            lambda connection, events: self.ssf.outbox.enqueue(connection, events)
        )
        return audit

    @cached_property
    def registry(self) -> RegistryService:
        return RegistryService(self.db, self.audit, self.clock)

    @cached_property
    def people(self) -> PeopleService:
        return PeopleService(self.db, self.audit, self.clock)

    # Capabilities add their services below as cached properties (one line each).

    @cached_property
    def call_approvals(self) -> CallApprovalService:  # approvals bound to the exact call
        return CallApprovalService(self.db, self.audit, self.clock, self.decisions.snapshot)

    @cached_property
    def reconcile(self) -> ReconcileService:  # estate ingest with attribution
        attribution = AttributionService(self.db, self.audit, self.clock)
        return ReconcileService(self.db, self.audit, self.clock, attribution.begin)

    @cached_property
    def scans(self) -> ScanRecorder:  # file-system scans into the estate, per root
        return ScanRecorder(self.db, self.reconcile)

    @cached_property
    def estate(self) -> EstateServices:  # inventory, map, shadow agents
        return EstateServices(self.db, self.audit, self.clock, self.reconcile)

    @cached_property
    def decisions(self) -> DecisionService:  # the decision point
        return DecisionService(self.db, self.audit, self.clock)

    @cached_property
    def search(self) -> SearchService:  # AuthZEN search over the decision point's policy
        home = self.settings.home
        return SearchService(self.decisions, lambda: MasterKey.load(home).derive(PAGE_KEY_PURPOSE))

    @cached_property
    def auth(self) -> AuthService:  # console users, sessions, API tokens, PEP keys
        return AuthService(self.db, self.audit, self.clock)

    @cached_property
    def tokens(self) -> TokenService:  # security token service
        return TokenService(self.db, self.audit, self.clock, self.settings)

    @cached_property
    def governance(self) -> GovernanceService:  # findings, posture, lifecycle workflows
        return GovernanceService(
            self.db,
            self.audit,
            self.clock,
            self.registry,
            home=self.settings.home,
            tokens=lambda: self.tokens,
            ingest=lambda: self.estate.ingest,
            call_approvals=lambda: self.call_approvals,
        )

    @cached_property
    def whatif(self) -> WhatIfService:  # recorded activity replayed against a proposal
        return WhatIfService(self.db, self.clock)

    @cached_property
    def drafts(self) -> DraftService:  # charters drafted from observed behaviour
        return DraftService(self.db, self.clock)

    @cached_property
    def ssf(self) -> SsfService:  # Shared Signals: streams, the SET outbox, the IdP receiver
        return SsfService(self.db, self.audit, self.clock, lambda: self.tokens, hook=False)

    @cached_property
    def siem(self) -> SiemExport:  # decisions and findings as OCSF events, to a file or URL
        return SiemExport(self.db, self.clock)

    def close(self) -> None:
        """Flush what services buffer (the decision engine's activity writer), then disconnect."""
        if "decisions" in self.__dict__:
            self.decisions.close()
        if "tokens" in self.__dict__:
            self.tokens.close()
        self.db.dispose()


def prepare_home(home: Path) -> None:
    """``CHARTER_HOME`` made (0700) if missing, or a one-line refusal naming it."""
    check_home(home)
    try:
        private_dir(home)
    except OSError as exc:
        raise InvalidInput(
            f"{home} cannot be created ({exc.strerror or exc}): "
            "point it at a directory you can write in",
            field=HOME_ENV,
        ) from None


@lru_cache(maxsize=1)
def process_services() -> Services:
    """This process's services, built from the environment (:class:`Settings`) on first use.

    The first call opens (and migrates) the store; later calls return the same
    container. ``process_services.cache_clear()`` forgets it, after ``close()``.
    """
    return Services.from_settings()
