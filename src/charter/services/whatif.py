"""What-if: replay recorded activity against a proposed charter, org policy or roles file.

The current policy is compiled from the store once, the proposal beside it once
(the same snapshot with one part replaced), and the ``activities`` of the last
``days`` days are streamed from the store in chunks through
:class:`charter.domain.whatif.Replay`. Reads only: nothing is recorded, nothing
changes (a replay is a question, like ``charter check``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from charter.domain.agent import Agent
from charter.domain.charter import CharterSpec
from charter.domain.compiled import Snapshot, compile_agent
from charter.domain.enums import AgentState
from charter.domain.org_policy import OrgPolicy
from charter.domain.roles import RolesFile
from charter.domain.whatif import EXAMPLES, Replay, Row, WhatIfReport
from charter.domain.whatif_input import ParsedProposal
from charter.errors import InvalidInput
from charter.services.activity_rows import action_counts, activity_rows
from charter.services.clock import Clock
from charter.services.decision_snapshot import SnapshotLoader
from charter.store.database import Database

DEFAULT_DAYS = 30
MAX_DAYS = 400
_COLUMNS = ("time", "agent", "action", "resource", "on_behalf_of", "context", "allowed")

_SELECT = "SELECT time, agent, action, resource, on_behalf_of, {context}, allowed FROM activities"


def check_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be a whole number from 1 to {MAX_DAYS}", field="days")
    return days


class WhatIfService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    # -- proposals -------------------------------------------------------------------------
    def charter(self, spec: CharterSpec, *, days: int = DEFAULT_DAYS) -> WhatIfReport:
        """Replay the agent's own activity with ``spec`` as its charter (as if active)."""

        def propose(current: Snapshot) -> Snapshot:
            known = current.agents.get(spec.name)
            now = self._clock.now()
            agent = Agent(
                name=spec.name,
                owner=spec.owner,
                state=AgentState.ACTIVE,
                charter=spec,
                charter_version=(known.charter_version if known else 0) + 1,
                created_at=now,
                updated_at=now,
            )
            return current.with_changes(agents={spec.name: compile_agent(agent)})

        return self._run(propose, f"charter {spec.name}", days, agent=spec.name)

    def org_policy(self, policy: OrgPolicy, *, days: int = DEFAULT_DAYS) -> WhatIfReport:
        return self._run(lambda s: s.with_changes(org_policy=policy), "org policy", days)

    def roles(self, roles: RolesFile, *, days: int = DEFAULT_DAYS) -> WhatIfReport:
        return self._run(lambda s: s.with_changes(roles=roles), "roles", days)

    # -- the replay ------------------------------------------------------------------------
    def _run(
        self,
        propose: Callable[[Snapshot], Snapshot],
        subject: str,
        days: int,
        *,
        agent: str | None = None,
        examples: int = EXAMPLES,
    ) -> WhatIfReport:
        check_days(days)
        until = self._clock.now()
        since = until - dt.timedelta(days=days)
        counts = action_counts(self._db, since, until, agent=agent)
        if not counts:  # nothing recorded (a new agent): nothing to compile or replay
            return WhatIfReport(subject, days, since, until, 0, 0, 0, 0, 0, 0)
        current = SnapshotLoader(self._db).load(None)
        proposed = propose(current)
        replay = Replay(current, proposed, subject=subject)
        touched = replay.scope.actions(counts)
        if touched:
            only = None if len(touched) == len(counts) else sorted(touched)
            for chunk in activity_rows(
                self._db,
                _COLUMNS,
                since,
                until,
                agent=agent,
                actions=only,
                resources=replay.scope.resource_patterns(touched),
            ):
                replay.feed(chunk)
        return replay.report(
            days=days,
            since=since,
            until=until,
            examples=examples,
            rows_in_window=sum(counts.values()),
        )

    def rows(
        self, since: dt.datetime, until: dt.datetime, *, agent: str | None = None
    ) -> Iterator[list[Row]]:
        """The recorded requests in ``[since, until]``, in chunks, straight off the driver."""
        return activity_rows(self._db, _COLUMNS, since, until, agent=agent)


def replay_proposal(
    service: WhatIfService, proposal: ParsedProposal, *, days: int = DEFAULT_DAYS
) -> WhatIfReport:
    """The report for any kind of proposal."""
    value = proposal.value
    if isinstance(value, CharterSpec):
        return service.charter(value, days=days)
    if isinstance(value, OrgPolicy):
        return service.org_policy(value, days=days)
    return service.roles(value, days=days)
