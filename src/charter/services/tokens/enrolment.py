"""Enrolment: an agent registers the public key it will authenticate with.

Two ways in, both only for ``active`` agents:

* an operator registers the key directly (``charter agent enroll NAME
  --public-key FILE``, or ``--generate --out FILE`` to make the pair);
* an operator issues a one-time enrolment code (short-lived, stored only as
  its SHA-256), and the agent redeems it at ``POST /oauth/register`` with its
  public JWK. That is RFC 7591 dynamic client registration with the code as
  the initial access token (§3), so the private key never leaves the agent.

Enrolling a new key *rotates*: the agent's current keys keep working for an
overlap window (default one hour) and then expire. A key can be revoked at
once; that also revokes every token the agent holds (we do not record which key
obtained which token, so we fail closed). The client id is the agent's name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from charter.domain.audit import EventDraft
from charter.domain.enums import AgentState
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.domain.tokens.jwk import (
    AGENT_ALGS,
    PublicKey,
    alg_for_key,
    jwk_from_public_key,
    public_key_from_jwk,
)
from charter.errors import Conflict, InvalidInput, NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.tokens.keys import TOKENS_VERSION_KEY
from charter.store import schema
from charter.store.database import Database
from charter.store.tokens_schema import agent_keys as _AK
from charter.store.tokens_schema import enrolment_codes as _EC
from charter.store.tokens_schema import token_floors as _TF
from charter.store.versions import bump_version

CODE_PREFIX = "chenr_"
DEFAULT_CODE_TTL = 600
MAX_CODE_TTL = 86400
DEFAULT_KEY_OVERLAP = 3600
MAX_KEY_OVERLAP = 30 * 86400
MAX_KEYS_PER_AGENT = 10


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class AgentKey:
    agent: str
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def status(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is None:
            return "active"
        return "retiring" if self.expires_at > now else "expired"

    def usable(self, now: dt.datetime) -> bool:
        return self.status(now) in ("active", "retiring")


@dataclass(frozen=True, slots=True)
class Enrolled:
    key: AgentKey
    #: earlier keys that now expire at the end of the overlap window
    retiring: tuple[str, ...]
    retire_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class EnrolmentCode:
    agent: str
    code: str
    expires_at: dt.datetime


def agent_key(row: Any) -> AgentKey:
    return AgentKey(
        row.agent,
        row.kid,
        row.alg,
        dict(row.public_jwk),
        _aware(row.created_at),  # type: ignore[arg-type]
        _aware(row.expires_at),
        _aware(row.revoked_at),
    )


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


class Enrolment:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    def _require_active(
        self, connection: sa.Connection, agent: str, *, oauth: bool = False
    ) -> None:
        state = connection.execute(
            sa.select(schema.agents.c.state).where(schema.agents.c.name == agent)
        ).scalar()
        if state is None:
            if oauth:
                raise OAuthError(
                    OAuthErrorCode.INVALID_TOKEN,
                    "the enrolment code is not valid",
                    reason="unknown_agent",
                )
            raise NotFound(f"no agent named {agent!r}", field="name")
        if state != AgentState.ACTIVE:
            message = f"only active agents enrol; {agent} is {state}"
            if oauth:
                raise OAuthError(
                    OAuthErrorCode.INVALID_CLIENT_METADATA, message, reason="agent_not_active"
                )
            raise Conflict(message, field="state")

    def _add(
        self,
        connection: sa.Connection,
        agent: str,
        public: PublicKey,
        *,
        actor: str,
        overlap: int,
        via: str,
    ) -> Enrolled:
        alg = alg_for_key(public)
        if alg not in AGENT_ALGS:
            raise InvalidInput("agent keys are Ed25519 (EdDSA) or P-256 (ES256)", field="key")
        if not 0 <= overlap <= MAX_KEY_OVERLAP:
            raise InvalidInput(
                f"overlap must be between 0 and {MAX_KEY_OVERLAP} s", field="overlap"
            )
        jwk = jwk_from_public_key(public)
        now = self._clock.now()
        existing = [
            agent_key(r) for r in connection.execute(sa.select(_AK).where(_AK.c.agent == agent))
        ]
        if any(k.kid == jwk["kid"] for k in existing):
            raise Conflict(f"this key ({jwk['kid']}) is already enrolled for {agent}", field="key")
        current = [k for k in existing if k.usable(now)]
        if len(current) >= MAX_KEYS_PER_AGENT:
            raise Conflict(
                f"{agent} already has {len(current)} usable keys; revoke some first", field="key"
            )
        retire_at = now + dt.timedelta(seconds=overlap) if current else None
        retiring = tuple(k.kid for k in current if k.expires_at is None or k.expires_at > retire_at)  # type: ignore[operator]
        if retiring:
            connection.execute(
                sa.update(_AK)
                .where(_AK.c.agent == agent, _AK.c.kid.in_(retiring))
                .values(expires_at=retire_at)
            )
        connection.execute(
            sa.insert(_AK).values(
                agent=agent,
                kid=jwk["kid"],
                alg=alg.value,
                public_jwk=jwk,
                created_at=now,
                created_by=actor,
            )
        )
        self._audit.record(
            connection,
            EventDraft(
                actor,
                "agent.enroll",
                "agent",
                agent,
                {"keys": [k.kid for k in current]} if current else None,
                {
                    "kid": jwk["kid"],
                    "alg": alg.value,
                    "via": via,
                    "retiring": list(retiring),
                    "retire_at": retire_at.isoformat() if retire_at and retiring else None,
                },
            ),
        )
        bump_version(connection, TOKENS_VERSION_KEY)
        key = AgentKey(agent, jwk["kid"], alg.value, jwk, now, None, None)
        return Enrolled(key, retiring, retire_at if retiring else None)

    def enrol(
        self, agent: str, public: PublicKey, *, actor: str, overlap: int = DEFAULT_KEY_OVERLAP
    ) -> Enrolled:
        """Register ``public`` for ``agent`` (rotating out its current keys after ``overlap``)."""
        with self._db.write() as connection:
            self._require_active(connection, agent)
            return self._add(
                connection, agent, public, actor=actor, overlap=overlap, via="operator"
            )

    def issue_code(self, agent: str, *, actor: str, ttl: int = DEFAULT_CODE_TTL) -> EnrolmentCode:
        """A one-time code the agent exchanges for registering its own key."""
        if not 0 < ttl <= MAX_CODE_TTL:
            raise InvalidInput(
                f"an enrolment code lives 1 s to {MAX_CODE_TTL // 3600} h", field="ttl"
            )
        code = CODE_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        expires = now + dt.timedelta(seconds=ttl)
        with self._db.write() as connection:
            self._require_active(connection, agent)
            connection.execute(
                sa.insert(_EC).values(
                    code_hash=code_digest(code),
                    agent=agent,
                    created_at=now,
                    created_by=actor,
                    expires_at=expires,
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "agent.enrolment_code",
                    "agent",
                    agent,
                    None,
                    {"expires_at": expires.isoformat()},
                ),
            )
        return EnrolmentCode(agent, code, expires)

    def redeem_code(self, code: str, jwk: dict[str, Any], *, actor: str) -> Enrolled:
        """RFC 7591 registration with an initial access token: single use, before it expires."""
        invalid = OAuthError(
            OAuthErrorCode.INVALID_TOKEN,
            "the enrolment code is unknown, used or expired",
            reason="invalid_enrolment_code",
        )
        if not code.startswith(CODE_PREFIX) or len(code) > 128:
            raise invalid
        try:
            public, _ = public_key_from_jwk(jwk)
        except InvalidInput as exc:
            raise OAuthError(
                OAuthErrorCode.INVALID_CLIENT_METADATA, exc.message, reason="bad_key", field="jwks"
            ) from exc
        now = self._clock.now()
        with self._db.write() as connection:
            row = connection.execute(
                sa.select(_EC).where(_EC.c.code_hash == code_digest(code))
            ).first()
            if row is None or row.used_at is not None or _aware(row.expires_at) <= now:  # type: ignore[operator]
                raise invalid
            self._require_active(connection, row.agent, oauth=True)
            connection.execute(
                sa.update(_EC).where(_EC.c.code_hash == row.code_hash).values(used_at=now)
            )
            try:
                return self._add(
                    connection,
                    row.agent,
                    public,
                    actor=actor or row.agent,
                    overlap=DEFAULT_KEY_OVERLAP,
                    via="enrolment_code",
                )
            except (InvalidInput, Conflict) as exc:
                raise OAuthError(
                    OAuthErrorCode.INVALID_CLIENT_METADATA,
                    exc.message,
                    reason="bad_key",
                    field="jwks",
                ) from exc

    def revoke_key(self, agent: str, kid: str, *, actor: str, reason: str) -> AgentKey:
        """Stop accepting ``kid`` at once, and make every token ``agent`` holds inactive."""
        if not reason.strip():
            raise InvalidInput("a reason is required", field="reason")
        now = self._clock.now()
        with self._db.write() as connection:
            row = connection.execute(
                sa.select(_AK).where(_AK.c.agent == agent, _AK.c.kid == kid)
            ).first()
            if row is None:
                raise NotFound(f"{agent} has no key {kid!r}", field="kid")
            if row.revoked_at is not None:
                raise Conflict(f"key {kid} of {agent} is already revoked", field="kid")
            connection.execute(
                sa.update(_AK).where(_AK.c.agent == agent, _AK.c.kid == kid).values(revoked_at=now)
            )
            self.raise_floor(connection, agent, now)
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "agent.key_revoke",
                    "agent",
                    agent,
                    {"kid": kid},
                    {"kid": kid, "reason": reason, "tokens_revoked": True},
                ),
            )
            bump_version(connection, TOKENS_VERSION_KEY)
        return replace(agent_key(row), revoked_at=now)

    def raise_floor(self, connection: sa.Connection, agent: str, now: dt.datetime) -> int:
        """Tokens of ``agent`` issued before now (rounded up) become inactive."""
        floor = math.ceil(now.timestamp())
        updated = connection.execute(
            sa.update(_TF).where(_TF.c.agent == agent).values(not_before=floor, updated_at=now)
        )
        if updated.rowcount == 0:
            connection.execute(sa.insert(_TF).values(agent=agent, not_before=floor, updated_at=now))
        return floor

    def keys(self, agent: str) -> list[AgentKey]:
        with self._db.read() as connection:
            if (
                connection.execute(
                    sa.select(schema.agents.c.name).where(schema.agents.c.name == agent)
                ).first()
                is None
            ):
                raise NotFound(f"no agent named {agent!r}", field="name")
            rows = connection.execute(
                sa.select(_AK).where(_AK.c.agent == agent).order_by(_AK.c.created_at)
            )
            return [agent_key(row) for row in rows]
