"""Charter's signing keys, at rest and in rotation (RFC 7517 key sets).

* **At rest** the private key is PKCS#8 sealed with AES-256-GCM under a master
  key, with the key id as associated data (a sealed key cannot be moved to
  another row). The master key is ``CHARTER_MASTER_KEY`` (32 bytes, base64) or,
  when that is unset, ``$CHARTER_HOME/master.key``, created on first start with
  0600 permissions and refused if anyone else may read it. Replicas sharing a
  PostgreSQL store must share ``CHARTER_MASTER_KEY``.
* **First start** generates one key (ES256 by default). Creation takes the
  store's write lock, so two processes starting at once make one key.
* **Rotation** makes a new key the signer at once and keeps the old ones in the
  JWKS, verifying, for an overlap window (default 24 h, the longest a token may
  live), so no valid token breaks. After the window the old key leaves the JWKS
  and its sealed private key is wiped; the row stays, for the record.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from charter.domain.audit import EventDraft
from charter.domain.tokens.jwk import (
    Alg,
    PrivateKey,
    checked_private_key,
    generate_private_key,
    jwk_from_public_key,
    public_key_from_jwk,
)
from charter.domain.tokens.jws import Signer, VerificationKey
from charter.errors import InvalidInput, StoreError
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store.database import Database
from charter.store.private_files import private_dir
from charter.store.tokens_schema import signing_keys as _K
from charter.store.versions import bump_version

MASTER_KEY_ENV = "CHARTER_MASTER_KEY"
MASTER_KEY_FILE = "master.key"
DEFAULT_SIGNING_ALG = Alg.ES256
DEFAULT_OVERLAP = 24 * 3600
#: Store serialisation point for key creation and rotation (PostgreSQL advisory lock).
TOKENS_LOCK_ID = 0x43484B59  # "CHKY"
#: The change counter other processes watch to reload keys, revocations and agent keys.
TOKENS_VERSION_KEY = "tokens"


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _decode_master(text: str, source: str) -> bytes:
    cleaned = text.strip()
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InvalidInput(
            f"{source} must be 32 random bytes in base64; make one with: python -c "
            '"import base64,secrets;'
            'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"',
            field=MASTER_KEY_ENV,
        )
    return raw


class MasterKey:
    """The key that seals signing keys at rest (AES-256-GCM, 96-bit random nonces)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        #: A fingerprint stored beside sealed keys, so a wrong master key is named, not guessed.
        self.key_id = hmac.new(key, b"charter master key id", hashlib.sha256).hexdigest()[:16]
        self._derive_secret = key

    @classmethod
    def load(cls, home: Path, environ: Mapping[str, str] | None = None) -> MasterKey:
        env = os.environ if environ is None else environ
        value = env.get(MASTER_KEY_ENV)
        if value:
            return cls(_decode_master(value, MASTER_KEY_ENV))
        return cls(_decode_master(_master_file(home), str(home / MASTER_KEY_FILE)))

    def seal(self, plaintext: bytes, *, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, context.encode())
        return base64.b64encode(sealed).decode("ascii")

    def open(self, sealed: str, *, context: str) -> bytes:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except InvalidTag as exc:
            raise StoreError(f"the sealed key {context} does not open: it was altered") from exc

    def derive(self, purpose: str) -> bytes:
        """A 32-byte secret for ``purpose`` (e.g. DPoP nonces), the same on every replica."""
        return hmac.new(self._derive_secret, purpose.encode(), hashlib.sha256).digest()


def _master_file(home: Path) -> str:
    """Read ``master.key``, creating it 0600 on first start; refuse it if others may read it."""
    path = home / MASTER_KEY_FILE
    private_dir(home)
    if not path.exists():  # written aside, then linked: a racing reader never sees it empty
        draft = home / f".{MASTER_KEY_FILE}.{secrets.token_hex(8)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise StoreError(f"{path} is readable by others (mode {mode:04o}); run: chmod 600 {path}")
    return path.read_text()


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: Alg
    public_jwk: dict[str, Any]
    verification: VerificationKey
    created_at: dt.datetime
    retires_at: dt.datetime | None
    private: PrivateKey | None = None

    def status(self, now: dt.datetime) -> str:
        if self.retires_at is None:
            return "active"
        return "retiring" if self.retires_at > now else "retired"


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The signer plus every key that still verifies; what ``/.well-known/jwks.json`` shows."""

    signer: SigningKey
    keys: Mapping[str, SigningKey]
    #: epoch seconds when the next overlapping key retires (the ring must be reloaded then)
    next_change: float
    #: signs access tokens (``typ: at+jwt``) with the signer
    access_tokens: Signer | None = None

    def verification_key(self, kid: str | None) -> VerificationKey | None:
        key = self.keys.get(kid) if kid else None
        return key.verification if key else None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(key.public_jwk) for key in self.keys.values()]}


def _row_key(row: Any) -> SigningKey:
    public, alg = public_key_from_jwk(row.public_jwk)
    return SigningKey(
        kid=row.kid,
        alg=alg,
        public_jwk=dict(row.public_jwk),
        verification=VerificationKey.of(public, row.kid),
        created_at=_aware(row.created_at) or dt.datetime.now(dt.UTC),
        retires_at=_aware(row.retires_at),
    )


class SigningKeys:
    """Create, load and rotate the signing keys in the store."""

    def __init__(self, database: Database, audit: AuditService, clock: Clock, home: Path) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._home = home
        self._master: MasterKey | None = None

    @property
    def master(self) -> MasterKey:
        if self._master is None:
            self._master = MasterKey.load(self._home)
        return self._master

    def _insert(self, connection: sa.Connection, alg: Alg, actor: str) -> SigningKey:
        private = generate_private_key(alg)
        jwk = jwk_from_public_key(private.public_key())
        der = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        now = self._clock.now()
        connection.execute(
            sa.insert(_K).values(
                kid=jwk["kid"],
                alg=alg.value,
                public_jwk=jwk,
                sealed_private_key=self.master.seal(der, context=jwk["kid"]),
                master_key_id=self.master.key_id,
                created_at=now,
                created_by=actor,
                retires_at=None,
            )
        )
        bump_version(connection, TOKENS_VERSION_KEY)
        public, _ = public_key_from_jwk(jwk)
        return SigningKey(
            jwk["kid"], alg, jwk, VerificationKey.of(public, jwk["kid"]), now, None, private
        )

    def ensure(self, *, actor: str = "charter") -> None:
        """Generate the first signing key if there is none (idempotent, race-free)."""
        with self._db.read() as connection:
            if connection.execute(sa.select(_K.c.kid).limit(1)).first():
                return
        with self._db.write() as connection:
            self._db.lock(connection, TOKENS_LOCK_ID)
            if connection.execute(sa.select(_K.c.kid).limit(1)).first():
                return
            key = self._insert(connection, DEFAULT_SIGNING_ALG, actor)
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "signing_key.create",
                    "signing_key",
                    key.kid,
                    None,
                    {"alg": key.alg.value, "reason": "first start"},
                ),
            )

    def load(self) -> KeyRing:
        """The current ring: the signer (with its private key opened) and the verifying keys."""
        self.ensure()
        now = self._clock.now()
        with self._db.read() as connection:
            rows = list(connection.execute(sa.select(_K).order_by(_K.c.created_at, _K.c.kid)))
        live = [r for r in rows if r.retires_at is None or _aware(r.retires_at) > now]  # type: ignore[operator]
        current = [r for r in live if r.retires_at is None]
        if not current:
            raise StoreError("no active signing key: run 'charter keys rotate'")
        signer_row = current[-1]
        if signer_row.master_key_id != self.master.key_id:
            raise StoreError(
                f"the signing keys were sealed with master key {signer_row.master_key_id}, but "
                f"this process has master key {self.master.key_id}: set the same "
                f"{MASTER_KEY_ENV} on every process that shares this store"
            )
        der = self.master.open(signer_row.sealed_private_key, context=signer_row.kid)
        private = checked_private_key(serialization.load_der_private_key(der, password=None))
        keys = {row.kid: _row_key(row) for row in live}
        signer = keys[signer_row.kid]
        signer = SigningKey(
            signer.kid,
            signer.alg,
            signer.public_jwk,
            signer.verification,
            signer.created_at,
            None,
            private,
        )
        keys[signer.kid] = signer
        retiring = [k.retires_at.timestamp() for k in keys.values() if k.retires_at is not None]
        return KeyRing(
            signer,
            keys,
            min(retiring, default=float("inf")),
            Signer(private, kid=signer.kid, typ="at+jwt"),
        )

    def rotate(
        self,
        *,
        actor: str,
        alg: Alg = DEFAULT_SIGNING_ALG,
        overlap: int = DEFAULT_OVERLAP,
        immediately: bool = False,
    ) -> SigningKey:
        """A new signer now; the old ones verify until ``now + overlap`` (or stop now)."""
        if overlap < 0:
            raise InvalidInput("the overlap cannot be negative", field="overlap")
        self.ensure()  # a rotation on a fresh store rotates out the first-start key
        now = self._clock.now()
        retire_at = now if immediately else now + dt.timedelta(seconds=overlap)
        with self._db.write() as connection:
            self._db.lock(connection, TOKENS_LOCK_ID)
            old = [
                row.kid
                for row in connection.execute(sa.select(_K.c.kid).where(_K.c.retires_at.is_(None)))
            ]
            connection.execute(
                sa.update(_K).where(_K.c.retires_at.is_(None)).values(retires_at=retire_at)
            )
            # keys whose overlap has ended have no use for their private half: wipe it
            connection.execute(
                sa.update(_K)
                .where(_K.c.retires_at <= now, _K.c.sealed_private_key.is_not(None))
                .values(sealed_private_key=None)
            )
            key = self._insert(connection, alg, actor)
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "signing_key.rotate",
                    "signing_key",
                    key.kid,
                    {"active": old},
                    {"alg": alg.value, "retiring": old, "retires_at": retire_at.isoformat()},
                ),
            )
        return key

    def all(self) -> list[SigningKey]:
        self.ensure()
        with self._db.read() as connection:
            rows = connection.execute(sa.select(_K).order_by(_K.c.created_at, _K.c.kid))
            return [_row_key(row) for row in rows]
