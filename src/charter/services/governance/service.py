"""The governance service: findings, posture and the lifecycle workflows, in one container.

Each part is its own module under :mod:`charter.governance` (one concept per
module); this class wires them to the store, the audit log, the clock and the
governance policy file, and is what the CLI, the API and the worker call
(``services.governance.findings``, ``.reviews``, ``.jit`` …).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from charter.domain.governance.policy import GovernancePolicy, load_policy, policy_path
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.governance.finding_runs import EvaluationService
from charter.services.governance.findings import FindingStore
from charter.services.governance.leases import Leases
from charter.store.database import Database

if TYPE_CHECKING:
    from charter.services.agent_registry import RegistryService
    from charter.services.call_approvals import CallApprovalService
    from charter.services.changes import ChangeService
    from charter.services.estate_ingest import EstateIngest
    from charter.services.governance.decommission import DecommissionService
    from charter.services.governance.delivery import DeliveryService
    from charter.services.governance.departure import DepartureService
    from charter.services.governance.discovery_runs import DiscoveryRuns
    from charter.services.governance.expiry import ExpiryService
    from charter.services.governance.inbox import Inbox
    from charter.services.governance.jit import JitService
    from charter.services.governance.notices import NoticeService
    from charter.services.governance.posture import PostureService
    from charter.services.governance.review_deadlines import ReviewDeadlines
    from charter.services.governance.reviews import ReviewService
    from charter.services.governance.rotation import RotationService
    from charter.services.governance.tasks import TaskService
    from charter.services.governance.worker import Worker
    from charter.services.tokens.service import TokenService


class GovernanceService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        registry: RegistryService,
        *,
        home: Path,
        policy_file: Path | None = None,
        tokens: Callable[[], TokenService] | None = None,
        ingest: Callable[[], EstateIngest] | None = None,
        call_approvals: Callable[[], CallApprovalService] | None = None,
    ) -> None:
        self.db = database
        self.audit = audit
        self.clock = clock
        self.registry = registry
        self._home = home
        self._policy_file = policy_file
        self._tokens = tokens
        self._ingest = ingest
        #: single calls held for a person's approval (the inbox lists those one may decide)
        self.call_approvals = call_approvals
        self._cached: tuple[tuple[str, float], GovernancePolicy] | None = None

    # -- the policy file ------------------------------------------------------------------------
    def policy(self) -> GovernancePolicy:
        """The governance policy in force (re-read when its file changes)."""
        path = policy_path(self._home, self._policy_file)
        key = (str(path), path.stat().st_mtime if path is not None and path.exists() else 0.0)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, load_policy(self._home, self._policy_file))
        return self._cached[1]

    def use_policy_file(self, path: Path | None) -> None:
        self._policy_file = path
        self._cached = None

    # -- parts ----------------------------------------------------------------------------------
    @cached_property
    def leases(self) -> Leases:
        return Leases(self.db, self.clock)

    @cached_property
    def evaluation(self) -> EvaluationService:
        return EvaluationService(self.db, self.audit, self.clock, self.policy, self.leases)

    @cached_property
    def findings(self) -> FindingStore:
        return FindingStore(self.db, self.audit, self.clock)

    @cached_property
    def posture(self) -> PostureService:
        from charter.services.governance.posture import PostureService

        return PostureService(self.db)

    @cached_property
    def notices(self) -> NoticeService:
        from charter.services.governance.notices import NoticeService

        return NoticeService(self.db, self.clock)

    @cached_property
    def tasks(self) -> TaskService:
        from charter.services.governance.tasks import TaskService

        return TaskService(self.db, self.audit, self.clock)

    @cached_property
    def reviews(self) -> ReviewService:
        from charter.services.governance.reviews import ReviewService

        return ReviewService(self.db, self.audit, self.clock, self.policy)

    @cached_property
    def review_deadlines(self) -> ReviewDeadlines:
        from charter.services.governance.review_deadlines import ReviewDeadlines

        return ReviewDeadlines(self.db, self.audit, self.clock, self.policy)

    @cached_property
    def jit(self) -> JitService:
        from charter.services.governance.jit import JitService

        return JitService(self.db, self.audit, self.clock, self.policy)

    @cached_property
    def changes(self) -> ChangeService:
        from charter.services.changes import ChangeService

        jit = lambda: self.jit  # noqa: E731 - built on first use
        return ChangeService(self.db, self.audit, self.clock, self.registry, self.policy, jit)

    @cached_property
    def rotation(self) -> RotationService:
        from charter.services.governance.rotation import RotationService

        return RotationService(self.db, self.audit, self.clock, self.policy)

    @cached_property
    def decommission(self) -> DecommissionService:
        from charter.services.governance.decommission import DecommissionService

        return DecommissionService(self.db, self.audit, self.clock, self._tokens)

    @cached_property
    def departures(self) -> DepartureService:
        from charter.services.governance.departure import DepartureService

        return DepartureService(self.db, self.audit, self.clock, self.policy, self.registry)

    @cached_property
    def expiry(self) -> ExpiryService:
        from charter.services.governance.expiry import ExpiryService

        return ExpiryService(self.db, self.audit, self.clock, self.policy)

    @cached_property
    def delivery(self) -> DeliveryService:
        from charter.services.governance.delivery import DeliveryService

        policy = lambda: self.policy().delivery  # noqa: E731 - re-read with the file
        tasks = lambda: self.tasks  # noqa: E731 - built on first use
        return DeliveryService(self.db, self.clock, policy, self.leases, tasks, home=self._home)

    @cached_property
    def inbox(self) -> Inbox:
        from charter.services.governance.inbox import Inbox

        return Inbox(self)

    @cached_property
    def discovery(self) -> DiscoveryRuns:  # scheduled discovery (the policy's discovery section)
        from charter.services.governance.discovery_runs import DiscoveryRuns

        def ingest() -> EstateIngest:
            if self._ingest is None:
                raise RuntimeError("this governance service was built without estate ingest")
            return self._ingest()

        return DiscoveryRuns(self.db, self.clock, self.policy, self.leases, ingest)

    def worker(self, holder: str | None = None) -> Worker:
        from charter.services.governance.worker import Worker

        return Worker(self, holder=holder)
