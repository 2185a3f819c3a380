"""Who may use Charter itself: console users, sign-in, sessions and sign-in throttling.

- **Users** have one role: ``admin`` (everything), ``owner`` (their own agents
  and reviews) or ``auditor`` (reads, never writes). Passwords are hashed with
  argon2id (RFC 9106's recommended parameters via argon2-cffi); a user without
  a password signs in only through OpenID Connect.
- **Sessions** are server-side: the browser holds a 256-bit random id in a
  cookie, the store holds its SHA-256 digest, the user, a CSRF token, an
  absolute expiry and an idle timeout. Signing in always starts a *new*
  session (no fixation); signing out deletes it.
- **Throttling** counts failed sign-ins per account and per client address in
  the store, so the limit holds across worker processes and replicas. An
  attempt is counted *before* the password is checked, so concurrent guesses
  cannot slip past the limit; a success removes the account's count.

Personal API tokens and PEP keys live in :mod:`charter.services.access_keys`
(reached as ``services.auth.keys``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.errors import CharterError, Conflict, InvalidInput, NotFound, Unauthenticated
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store.auth_schema import (
    auth_login_attempts,
    auth_sessions,
    auth_users,
)
from charter.store.database import Database
from charter.store.versions import bump_version

if TYPE_CHECKING:
    from charter.services.access_keys import AccessKeyService
    from charter.services.oidc_requests import OidcRequests

__all__ = [
    "AUTH_VERSION_KEY",
    "MIN_PASSWORD_LENGTH",
    "AuthService",
    "Principal",
    "SessionGrant",
    "TooManyAttempts",
    "User",
    "UserRole",
    "Via",
    "digest",
]

_U = auth_users
_S = auth_sessions
_L = auth_login_attempts

#: The change counter that tells running servers to drop cached credentials.
AUTH_VERSION_KEY = "auth"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
SESSION_LIFETIME = dt.timedelta(hours=12)
SESSION_IDLE = dt.timedelta(hours=2)
#: Sliding the idle timeout costs a write; do it at most this often per session.
SESSION_TOUCH = dt.timedelta(minutes=1)
THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 30

_EMAIL = TypeAdapter(EmailStr)


class UserRole(StrEnum):
    ADMIN = "admin"
    OWNER = "owner"
    AUDITOR = "auditor"


class Via(StrEnum):
    """How a request proved who it is."""

    SESSION = "session"
    API_TOKEN = "api_token"  # noqa: S105 - a kind, not a secret
    PEP_KEY = "pep_key"


class TooManyAttempts(CharterError):
    """Sign-in refused without checking the password: too many recent failures."""

    status = 429
    code = "too-many-attempts"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request.

    ``str(principal)`` is what the audit log names as the actor: the person's
    e-mail for sessions and personal tokens, ``pep:<name>`` for a PEP key.
    """

    subject: str
    role: UserRole | None
    via: Via
    credential_id: str = ""
    csrf: str = ""
    name: str = ""

    def __str__(self) -> str:
        return f"pep:{self.subject}" if self.via == Via.PEP_KEY else self.subject

    @property
    def is_person(self) -> bool:
        return self.role is not None

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.ADMIN

    @property
    def may_write(self) -> bool:
        """Auditors (and PEPs) never change anything."""
        return self.role in (UserRole.ADMIN, UserRole.OWNER)

    @property
    def owner_scope(self) -> str | None:
        """The only owner whose agents this principal may see, or None for all."""
        return self.subject if self.role == UserRole.OWNER else None


@dataclass(frozen=True, slots=True)
class User:
    email: str
    name: str
    role: UserRole
    has_password: bool
    created_at: dt.datetime
    disabled: bool
    last_sign_in_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SessionGrant:
    """A new session: ``token`` goes in the cookie and nowhere else."""

    token: str
    csrf: str
    user: User
    expires_at: dt.datetime


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (what the store keeps instead of it)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def normalise_email(email: str, *, field: str = "email") -> str:
    try:
        return str(_EMAIL.validate_python(email.strip())).lower()
    except ValidationError as exc:
        raise InvalidInput(f"{email!r} is not an e-mail address", field=field) from exc


def parse_role(value: str) -> UserRole:
    try:
        return UserRole(value.strip().lower())
    except ValueError as exc:
        choices = ", ".join(r.value for r in UserRole)
        raise InvalidInput(f"role {value!r} is not one of: {choices}", field="role") from exc


def _user(row: Any) -> User:
    return User(
        email=row.email,
        name=row.name,
        role=UserRole(row.role),
        has_password=row.password_hash is not None,
        created_at=_aware(row.created_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
        disabled=row.disabled_at is not None,
        last_sign_in_at=_aware(row.last_sign_in_at),
    )


class AuthService:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._hasher = PasswordHasher()  # argon2id, RFC 9106 "low memory" profile
        self._dummy_hash: str | None = None

    @cached_property
    def keys(self) -> AccessKeyService:
        """Personal API tokens and PEP keys."""
        from charter.services.access_keys import AccessKeyService

        return AccessKeyService(self._db, self._audit, self._clock)

    @cached_property
    def oidc_requests(self) -> OidcRequests:
        """Pending OpenID Connect sign-ins (state, nonce, PKCE verifier)."""
        from charter.services.oidc_requests import OidcRequests

        return OidcRequests(self._db, self._clock)

    # -- users -------------------------------------------------------------------
    def _check_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(
                f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidInput(
                f"a password may have at most {MAX_PASSWORD_LENGTH} characters", field="password"
            )

    def _row(self, connection: Connection, email: str) -> Any:
        row = connection.execute(sa.select(_U).where(_U.c.email == email)).first()
        if row is None:
            raise NotFound(f"no console user {email}", field="email")
        return row

    def add_user(
        self, email: str, *, role: UserRole, password: str | None, actor: str, name: str = ""
    ) -> User:
        """Create a user; ``password=None`` makes an OpenID Connect-only user."""
        email = normalise_email(email)
        if password is not None:
            self._check_password(password)
        hashed = self._hasher.hash(password) if password is not None else None
        now = self._clock.now()
        with self._db.write() as connection:
            if connection.execute(sa.select(_U.c.email).where(_U.c.email == email)).first():
                raise Conflict(f"console user {email} already exists", field="email")
            connection.execute(
                sa.insert(_U).values(
                    email=email,
                    name=name.strip()[:200],
                    role=role.value,
                    password_hash=hashed,
                    created_at=now,
                    created_by=actor,
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "user.add",
                    "user",
                    email,
                    None,
                    {"role": role.value, "sign_in": "password" if hashed else "oidc"},
                ),
            )
            return _user(self._row(connection, email))

    def get_user(self, email: str) -> User:
        with self._db.read() as connection:
            return _user(self._row(connection, normalise_email(email)))

    def list_users(self) -> list[User]:
        with self._db.read() as connection:
            return [_user(r) for r in connection.execute(sa.select(_U).order_by(_U.c.email))]

    def set_role(self, email: str, role: UserRole, *, actor: str) -> User:
        email = normalise_email(email)
        with self._db.write() as connection:
            row = self._row(connection, email)
            connection.execute(sa.update(_U).where(_U.c.email == email).values(role=role.value))
            self._audit.record(
                connection,
                EventDraft(
                    actor, "user.set_role", "user", email, {"role": row.role}, {"role": role.value}
                ),
            )
            bump_version(connection, AUTH_VERSION_KEY)
            user = _user(self._row(connection, email))
        self.keys.forget_cached()
        return user

    def set_password(self, email: str, password: str, *, actor: str) -> None:
        """Set a new password and end every session the user had."""
        email = normalise_email(email)
        self._check_password(password)
        hashed = self._hasher.hash(password)
        with self._db.write() as connection:
            self._row(connection, email)
            connection.execute(
                sa.update(_U).where(_U.c.email == email).values(password_hash=hashed)
            )
            connection.execute(sa.delete(_S).where(_S.c.email == email))
            self._audit.record(connection, EventDraft(actor, "user.set_password", "user", email))

    def disable_user(self, email: str, *, actor: str) -> None:
        """Disable sign-in, end sessions; the user's tokens stop working at once."""
        email = normalise_email(email)
        now = self._clock.now()
        with self._db.write() as connection:
            row = self._row(connection, email)
            if row.disabled_at is not None:
                return
            connection.execute(sa.update(_U).where(_U.c.email == email).values(disabled_at=now))
            connection.execute(sa.delete(_S).where(_S.c.email == email))
            self._audit.record(connection, EventDraft(actor, "user.disable", "user", email))
            bump_version(connection, AUTH_VERSION_KEY)
        self.keys.forget_cached()

    # -- sign-in with a password --------------------------------------------------
    def _verify(self, hashed: str | None, password: str) -> bool:
        if hashed is None:
            # Spend the same time as a real check, so timing does not reveal accounts.
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            hashed = self._dummy_hash
            with contextlib.suppress(VerificationError, InvalidHashError):
                self._hasher.verify(hashed, password)
            return False
        try:
            return bool(self._hasher.verify(hashed, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _count_attempt(self, connection: Connection, keys: dict[str, int]) -> list[int]:
        """Refuse when any key is over its limit; otherwise count this attempt."""
        now = self._clock.now()
        cutoff = now - THROTTLE_WINDOW
        connection.execute(sa.delete(_L).where(_L.c.key.in_(list(keys)), _L.c.at < cutoff))
        for key, limit in keys.items():
            rows = connection.execute(
                sa.select(sa.func.count(), sa.func.min(_L.c.at)).where(_L.c.key == key)
            ).one()
            if rows[0] >= limit:
                oldest = _aware(rows[1]) or now
                wait = max(1, int((oldest + THROTTLE_WINDOW - now).total_seconds()) + 1)
                raise TooManyAttempts(
                    f"too many sign-in attempts; try again in {(wait + 59) // 60} minute(s)",
                    retry_after=wait,
                    field="email",
                )
        ids: list[int] = []
        for key in keys:
            result = connection.execute(sa.insert(_L).values(key=key, at=now))
            ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
        return ids

    def sign_in(self, email: str, password: str, *, client: str) -> SessionGrant:
        """Check a password and start a session; throttled per account and per client."""
        account = email.strip().lower()[:320]
        keys = {
            f"account:{account}": MAX_FAILURES_PER_ACCOUNT,
            f"client:{client[:200]}": MAX_FAILURES_PER_CLIENT,
        }
        with self._db.write() as connection:
            attempt_ids = self._count_attempt(connection, keys)
        with self._db.read() as connection:
            row = connection.execute(sa.select(_U).where(_U.c.email == account)).first()
        stored = row.password_hash if row is not None and row.disabled_at is None else None
        ok = self._verify(stored, password[:MAX_PASSWORD_LENGTH])
        if not ok or row is None:
            raise Unauthenticated("wrong e-mail or password", field="password")
        with self._db.write() as connection:
            connection.execute(sa.delete(_L).where(_L.c.key == f"account:{account}"))
            connection.execute(sa.delete(_L).where(_L.c.id.in_(attempt_ids)))
            if self._hasher.check_needs_rehash(row.password_hash):
                connection.execute(
                    sa.update(_U)
                    .where(_U.c.email == account)
                    .values(password_hash=self._hasher.hash(password))
                )
            return self._start(connection, account, method="password")

    # -- sessions -------------------------------------------------------------------
    def _start(self, connection: Connection, email: str, *, method: str) -> SessionGrant:
        now = self._clock.now()
        connection.execute(sa.delete(_S).where(_S.c.expires_at < now))
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = now + SESSION_LIFETIME
        connection.execute(
            sa.insert(_S).values(
                id_hash=digest(token),
                email=email,
                csrf=csrf,
                method=method,
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
            )
        )
        connection.execute(sa.update(_U).where(_U.c.email == email).values(last_sign_in_at=now))
        self._audit.record(
            connection,
            EventDraft(email, "console.sign_in", "user", email, None, {"method": method}),
        )
        return SessionGrant(token, csrf, _user(self._row(connection, email)), expires)

    def start_session(self, email: str, *, method: str) -> SessionGrant:
        """A session for someone whose identity was proven elsewhere (OpenID Connect)."""
        email = normalise_email(email)
        with self._db.write() as connection:
            row = connection.execute(sa.select(_U).where(_U.c.email == email)).first()
            if row is None or row.disabled_at is not None:
                raise Unauthenticated(
                    f"{email} may not use Charter; an admin can add them with "
                    f"'charter users add {email} --role owner --oidc'",
                    field="email",
                )
            return self._start(connection, email, method=method)

    def resolve_session(self, token: str) -> Principal | None:
        """The principal behind a session cookie, or None if unknown or expired."""
        if not token or len(token) > 256:
            return None
        key = digest(token)
        now = self._clock.now()
        with self._db.read() as connection:
            row = connection.execute(
                sa.select(_S, _U.c.role, _U.c.name, _U.c.disabled_at)
                .join(_U, _U.c.email == _S.c.email)
                .where(_S.c.id_hash == key)
            ).first()
        if row is None:
            return None
        last_seen = _aware(row.last_seen_at) or now
        expires = _aware(row.expires_at) or now
        if row.disabled_at is not None or now >= expires or now - last_seen >= SESSION_IDLE:
            with self._db.write() as connection:
                connection.execute(sa.delete(_S).where(_S.c.id_hash == key))
            return None
        if now - last_seen >= SESSION_TOUCH:
            with self._db.write() as connection:
                connection.execute(
                    sa.update(_S).where(_S.c.id_hash == key).values(last_seen_at=now)
                )
        return Principal(
            subject=row.email,
            role=UserRole(row.role),
            via=Via.SESSION,
            credential_id=key[:16],
            csrf=row.csrf,
            name=row.name,
        )

    def end_session(self, token: str) -> None:
        key = digest(token)
        with self._db.write() as connection:
            row = connection.execute(sa.select(_S.c.email).where(_S.c.id_hash == key)).first()
            if row is None:
                return
            connection.execute(sa.delete(_S).where(_S.c.id_hash == key))
            self._audit.record(
                connection, EventDraft(row.email, "console.sign_out", "user", row.email)
            )
