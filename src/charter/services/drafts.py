"""Drafting a charter from what an agent or identity was seen doing (``charter draft NAME``).

Gathers the evidence — the calls recorded for ``NAME`` (gateway, SDK, decision
logs), the identities attributed to it with their cloud last-used data and scan
evidence, the owner attribution suggests — and lets
:class:`charter.domain.drafting.Drafter` write the charter. Reads only.

A call counts as behaviour when it was allowed, or denied only because the agent
was not (yet) registered, active or in date — the case of a shadow agent. A call
an org policy, a deny rule, a condition or a missing allow rule refused is left
out: the draft must not allow what the charter in force refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa

from charter.domain.drafting import DEFAULT_EXPIRY_DAYS, Draft, Drafter, DraftEvidence
from charter.domain.enums import AgentState
from charter.domain.whatif import moment_us
from charter.errors import InvalidInput
from charter.services.activity_rows import activity_rows
from charter.services.attribution import UNOWNED
from charter.services.clock import Clock
from charter.services.whatif import DEFAULT_DAYS, check_days
from charter.store import schema
from charter.store.database import Database

_A, _V, _I, _C = schema.agents, schema.charter_versions, schema.identities, schema.credentials
#: denies that say nothing about the call itself: the agent was not enrolled for it
_ENROLMENT = frozenset({"unknown_agent", "agent_not_active", "charter_expired"})
_COLUMNS = ("time", "action", "resource", "on_behalf_of", "context", "allowed", "reasons", "source")


def counts_as_behaviour(allowed: Any, reasons: Any) -> bool:
    if allowed:
        return True
    if allowed is None or not reasons:
        return False
    try:
        parsed = orjson.loads(reasons) if isinstance(reasons, str | bytes) else reasons
    except orjson.JSONDecodeError:
        return False
    codes = {item.get("code") for item in parsed if isinstance(item, dict)}
    return bool(codes) and codes <= _ENROLMENT


def _context(text: Any) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = orjson.loads(text) if isinstance(text, str | bytes) else text
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _day(moment: dt.datetime | None) -> str:
    return moment.date().isoformat() if moment else "never"


class DraftService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    def draft(
        self,
        name: str,
        *,
        days: int = DEFAULT_DAYS,
        owner: str | None = None,
        until: dt.datetime | None = None,
        expires_in_days: int = DEFAULT_EXPIRY_DAYS,
    ) -> Draft:
        """Draft a charter for ``name`` from ``days`` of observed calls before ``until``."""
        check_days(days)
        if not 1 <= expires_in_days <= 366:
            raise InvalidInput("the expiry must be 1 to 366 days away", field="expires_in")
        until = until or self._clock.now()
        since = until - dt.timedelta(days=days)
        drafter = Drafter()
        for chunk in activity_rows(self._db, _COLUMNS, since, until, agent=name):
            for moment, action, resource, person, context, allowed, reasons, source in chunk:
                if counts_as_behaviour(allowed, reasons):
                    drafter.add(
                        moment_us(moment), action, resource, person, _context(context), source
                    )
        evidence = self._evidence(name, days, owner)
        return drafter.draft(evidence, expires_in_days=expires_in_days)

    def _evidence(self, name: str, days: int, owner: str | None) -> DraftEvidence:
        with self._db.read() as connection:
            agent = connection.execute(sa.select(_A).where(_A.c.name == name)).first()
            document: dict[str, Any] = {}
            if agent is not None:
                document = dict(
                    connection.execute(
                        sa.select(_V.c.document).where(
                            _V.c.agent == name, _V.c.version == agent.charter_version
                        )
                    ).scalar()
                    or {}
                )
            identities = connection.execute(
                sa.select(_I)
                .where(sa.or_(_I.c.agent == name, _I.c.id == name), _I.c.gone_at.is_(None))
                .order_by(_I.c.id)
            ).all()
            credentials = connection.execute(
                sa.select(_C).where(_C.c.agent == name, _C.c.gone_at.is_(None)).order_by(_C.c.id)
            ).all()
        reason = ""
        if owner:
            reason = "the person drafting it (--owner)"
        elif agent is not None and agent.owner and agent.owner != UNOWNED:
            owner = agent.owner
            reason = (
                "attribution (the shadow agent's suggested owner)"
                if agent.state == AgentState.DISCOVERED.value
                else "the registry (its current owner)"
            )
        else:
            attributed = sorted(
                (i for i in identities if i.owner and i.owner != UNOWNED),
                key=lambda i: -float(i.owner_confidence or 0),
            )
            if attributed:
                best = attributed[0]
                owner = best.owner
                reason = f"attribution of {best.id} (confidence {float(best.owner_confidence):.2f})"
        notes: list[str] = []
        for identity in identities:
            used = identity.last_used_at
            notes.append(
                f"{identity.source} {identity.kind} {identity.name}: last used {_day(used)}"
                + (f"; {'; '.join(list(identity.evidence or [])[:2])}" if identity.evidence else "")
            )
        for credential in credentials:
            properties = dict(credential.properties or {})
            service = properties.get("last_used_service")
            notes.append(
                f"{credential.provider} {credential.kind} {credential.preview}: last used "
                f"{_day(credential.last_used_at)}"
                + (f" on {service}" if service else "")
                + (f" (found at {credential.location})" if credential.location else "")
            )
        named = [str(i) for i in document.get("identities") or []]
        held = list(dict.fromkeys([*named, *(i.id for i in identities)]))
        purpose = None
        if agent is not None and agent.state != AgentState.DISCOVERED.value and agent.purpose:
            purpose = str(agent.purpose)
        return DraftEvidence(
            name=name,
            today=self._clock.now().date(),
            window_days=days,
            owner=owner.lower() if owner else None,
            owner_reason=reason,
            purpose=purpose,
            identities=tuple(held),
            notes=tuple(notes[:20]),
        )
