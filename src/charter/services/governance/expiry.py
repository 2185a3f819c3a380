"""Expiry: suspend agents whose charter has expired; warn their owners ahead of time.

Decisions already deny an expired charter; suspending makes the state say so
(and stops token issuance). Warnings go out at each ``expiry.warn_before``
offset as notices whose key names the agent, the expiry date and the offset,
so every warning is sent once — and again if the charter is renewed and
approaches its new date.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from charter.domain.audit import EventDraft
from charter.domain.durations import format_duration
from charter.domain.enums import AgentState
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.lifecycle import Transition
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.governance import agent_writes, notices
from charter.store import schema
from charter.store.database import Database

_A = schema.agents


class ExpiryService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        policy: Callable[[], GovernancePolicy],
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._policy = policy

    def apply(self, *, actor: str) -> builtins.list[dict[str, str]]:
        now = self._clock.now()
        today = now.date()
        offsets = sorted(self._policy().expiry.warn_before)  # nearest first
        actions: builtins.list[dict[str, str]] = []
        with self._db.write() as connection:
            rows = connection.execute(
                sa.select(_A.c.name, _A.c.owner, _A.c.pending_owner, _A.c.expires)
                .where(_A.c.state == AgentState.ACTIVE.value, _A.c.expires.is_not(None))
                .order_by(_A.c.name)
            ).all()
            for name, owner, pending, expires in rows:
                if expires < today:
                    if agent_writes.transition(
                        connection,
                        self._audit,
                        name=name,
                        to=Transition.SUSPEND,
                        actor=actor,
                        reason=f"charter expired on {expires}",
                        now=now,
                        expect=AgentState.ACTIVE,
                    ):
                        notices.send(
                            connection,
                            key=f"expiry.suspended:{name}:{expires}",
                            recipient=pending or owner,
                            kind="expiry.suspended",
                            agent=name,
                            subject=f"{name} was suspended: its charter expired on {expires}",
                            body="Renew it ('charter agent update FILE' with a new expires) and "
                            "resume it, or decommission it.",
                            now=now,
                        )
                        actions.append(
                            {"agent": name, "action": "suspended", "expires": expires.isoformat()}
                        )
                    continue
                for offset in offsets:
                    if today < expires - dt.timedelta(seconds=offset):
                        continue
                    days = (expires - today).days
                    if notices.send(
                        connection,
                        key=f"expiry.warn:{name}:{expires}:{offset}",
                        recipient=pending or owner,
                        kind="expiry.warn",
                        agent=name,
                        subject=f"The charter of {name} expires on {expires} ({days} days)",
                        body="Renew it with 'charter agent update FILE' (a new expires), or "
                        "let it lapse: the agent is then suspended.",
                        now=now,
                    ):
                        self._audit.record(
                            connection,
                            EventDraft(
                                actor,
                                "agent.expiry_warning",
                                "agent",
                                name,
                                None,
                                {
                                    "expires": expires.isoformat(),
                                    "days_left": days,
                                    "warned": pending or owner,
                                    "offset": format_duration(offset),
                                },
                            ),
                        )
                        actions.append(
                            {"agent": name, "action": "warned", "expires": expires.isoformat()}
                        )
                    break  # one warning per pass: the nearest offset reached
        return actions
