"""Revocation (RFC 7009): a token, or every token of an agent, inactive before it expires.

A revoked token's ``jti`` is stored until the token would have expired anyway,
and the change counter is bumped so every process drops it at once. Revoking
every token of an agent raises its *token floor*: tokens issued before it are
inactive, tokens issued after it are not (their ``iat`` is never earlier than
the floor).
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.domain.audit import EventDraft
from charter.domain.tokens.claims import VerifiedToken
from charter.errors import InvalidInput
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.tokens.enrolment import Enrolment
from charter.services.tokens.keys import TOKENS_VERSION_KEY
from charter.store.database import Database
from charter.store.tokens_schema import revoked_tokens as _R
from charter.store.versions import bump_version


class Revocations:
    def __init__(
        self, database: Database, audit: AuditService, clock: Clock, enrolment: Enrolment
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._enrolment = enrolment

    def revoke_token(self, token: VerifiedToken, *, actor: str, via: str) -> bool:
        """Revoke one token; False when it was already revoked (RFC 7009: still a success)."""
        now = self._clock.now()
        if token.expires_at <= now.timestamp():
            return False  # expired already: nothing left to revoke
        with self._db.write() as connection:
            exists = connection.execute(sa.select(_R.c.jti).where(_R.c.jti == token.jti)).first()
            if exists:
                return False
            connection.execute(
                sa.insert(_R).values(
                    jti=token.jti,
                    client_id=token.client_id,
                    expires_at=token.expires_at,
                    revoked_at=now,
                    revoked_by=actor,
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "token.revoke",
                    "agent",
                    token.client_id,
                    None,
                    {
                        "jti": token.jti,
                        "via": via,
                        "exp": token.expires_at,
                        "on_behalf_of": token.on_behalf_of,
                    },
                ),
            )
            bump_version(connection, TOKENS_VERSION_KEY)
        return True

    def revoke_agent(self, agent: str, *, actor: str, reason: str) -> int:
        """Every token ``agent`` holds now becomes inactive; returns the new floor (epoch s)."""
        if not reason.strip():
            raise InvalidInput("a reason is required", field="reason")
        now = self._clock.now()
        with self._db.write() as connection:
            floor = self._enrolment.raise_floor(connection, agent, now)
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "token.revoke_all",
                    "agent",
                    agent,
                    None,
                    {"not_before": floor, "reason": reason},
                ),
            )
            bump_version(connection, TOKENS_VERSION_KEY)
        return floor
