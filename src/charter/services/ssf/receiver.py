"""SETs pushed by the company's IdP (RFC 8935): a person disabled or their sessions revoked.

The IdP is a trusted issuer (``charter idp trust``, the same registry that lets
its tokens speak for people in a token exchange): its JWKS verifies the SET, and
the audience it was trusted with must be in ``aud``. A ``jti`` is accepted once
per issuer (a replay is answered like the first delivery, and changes nothing).

In one transaction: the person is marked departed (RISC ``account-disabled``),
every unexpired token an agent holds on their behalf is revoked (both events),
and an ``ssf.receive`` audit event names the SET. The ``people`` and ``tokens``
change counters move, so every process refuses those tokens and those
delegations within a second (the token service's validity snapshot).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from charter.domain import ssf_inbound
from charter.domain.audit import EventDraft
from charter.domain.enums import PersonStatus
from charter.errors import CharterError
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.tokens.keys import TOKENS_VERSION_KEY
from charter.store import schema
from charter.store.database import Database
from charter.store.ssf_schema import ssf_received as _R
from charter.store.tokens_schema import revoked_tokens as _RT
from charter.store.versions import bump_version

if TYPE_CHECKING:
    from charter.services.tokens.service import TokenService

_E, _P = schema.events, schema.people
#: delegated tokens older than this have expired (no charter allows a longer lifetime)
TOKEN_WINDOW = dt.timedelta(days=1)
ACTOR_PREFIX = "ssf:"


@dataclass(frozen=True, slots=True)
class Outcome:
    jti: str
    replay: bool
    departed: tuple[str, ...]
    revoked: int


class Receiver:
    def __init__(
        self, database: Database, audit: AuditService, clock: Clock, tokens: TokenService
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._tokens = tokens

    def receive(self, token: str) -> Outcome:
        """Check and act on one SET; raises :class:`ssf_inbound.SetRefused`."""
        compact = ssf_inbound.unverified(token)
        issuer = str(compact.claims["iss"])
        trusted = self._tokens.trusted.get(issuer)
        if trusted is None:
            raise ssf_inbound.SetRefused("invalid_issuer", f"{issuer} is not a trusted issuer")
        try:
            keys = self._tokens.trusted.keys(trusted, compact.kid)
        except CharterError as exc:
            raise ssf_inbound.SetRefused("invalid_key", f"the issuer's keys: {exc}") from None
        audience = trusted.audience or self._tokens.issuer
        now = self._clock.now()
        received = ssf_inbound.check(compact, keys, audience, now.timestamp())
        try:
            with self._db.write() as connection:
                # kept past MAX_AGE by twice the future leeway: a SET stamped up to LEEWAY
                # ahead stays acceptable that much longer, and must stay a replay meanwhile
                kept = ssf_inbound.MAX_AGE + 2 * ssf_inbound.LEEWAY
                too_old = now - dt.timedelta(seconds=kept)
                connection.execute(sa.delete(_R).where(_R.c.received_at < too_old))
                connection.execute(
                    sa.insert(_R).values(issuer=issuer, jti=received.jti, received_at=now)
                )
                return self._act(connection, received, now)
        except IntegrityError:
            return Outcome(received.jti, True, (), 0)

    def _act(
        self, connection: Connection, received: ssf_inbound.Received, now: dt.datetime
    ) -> Outcome:
        actor = ACTOR_PREFIX + received.issuer
        departed: list[str] = []
        revoked = 0
        drafts: list[EventDraft] = []
        for event_type, person in received.actions:
            if ssf_inbound.departs(event_type):
                moved = connection.execute(
                    sa.update(_P)
                    .where(_P.c.email == person, _P.c.status == PersonStatus.ACTIVE.value)
                    .values(status=PersonStatus.DEPARTED.value, updated_at=now)
                )
                if moved.rowcount:
                    departed.append(person)
                    drafts.append(
                        EventDraft(
                            actor,
                            "person.update",
                            "person",
                            person,
                            {"status": PersonStatus.ACTIVE.value},
                            {"status": PersonStatus.DEPARTED.value, "via": event_type},
                        )
                    )
            revoked += self._revoke_delegated(connection, person, actor, now, drafts)
        drafts.append(
            EventDraft(
                actor,
                "ssf.receive",
                "ssf_set",
                received.jti,
                None,
                {
                    "events": [e for e, _ in received.actions],
                    "people": sorted({p for _, p in received.actions}),
                    "departed": departed,
                    "revoked_tokens": revoked,
                },
            )
        )
        self._audit.record_many(connection, drafts)
        if departed:
            bump_version(connection, "people")
        if revoked:
            bump_version(connection, TOKENS_VERSION_KEY)
        return Outcome(received.jti, False, tuple(departed), revoked)

    def _revoke_delegated(
        self,
        connection: Connection,
        person: str,
        actor: str,
        now: dt.datetime,
        drafts: list[EventDraft],
    ) -> int:
        """Every unexpired token issued to an agent acting for ``person`` goes on the list."""
        since = (now - TOKEN_WINDOW).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        rows = connection.execute(
            sa.select(_E.c.target, _E.c.summary).where(
                _E.c.action == "token.exchange", _E.c.time >= since
            )
        )
        epoch = int(now.timestamp())
        found: list[tuple[str, str, int]] = []
        for row in rows:
            after: Any = json.loads(row.summary).get("after") or {}
            exp = after.get("exp")
            if after.get("on_behalf_of") == person and isinstance(exp, int) and exp > epoch:
                found.append((str(after["jti"]), row.target, exp))
        if not found:
            return 0
        known = {
            r.jti
            for r in connection.execute(
                sa.select(_RT.c.jti).where(_RT.c.jti.in_([j for j, _, _ in found]))
            )
        }
        fresh = [(j, agent, exp) for j, agent, exp in found if j not in known]
        for jti, agent, exp in fresh:
            connection.execute(
                sa.insert(_RT).values(
                    jti=jti, client_id=agent, expires_at=exp, revoked_at=now, revoked_by=actor
                )
            )
            drafts.append(
                EventDraft(
                    actor,
                    "token.revoke",
                    "agent",
                    agent,
                    None,
                    {"jti": jti, "via": "ssf", "exp": exp, "on_behalf_of": person},
                )
            )
        return len(fresh)
