"""SSF streams: created by an admin for a receiver, each with its own bearer token.

A stream is a receiver's subscription: its audience, push (RFC 8935) or poll
(RFC 8936), the events it asked for, the subjects it added or removed, and its
status (``enabled``, ``paused``: SETs are kept until it is enabled again,
``disabled``: none are kept). Every change is audited. The bearer token a
receiver polls with is shown once, at creation; only its SHA-256 is kept.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain import ssf
from charter.domain.audit import EventDraft
from charter.errors import InvalidInput, NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store.database import Database
from charter.store.ssf_schema import ssf_outbox as _O
from charter.store.ssf_schema import ssf_streams as _S
from charter.store.ssf_schema import ssf_subjects as _U

TOKEN_PREFIX = "chssf_"  # noqa: S105 - a prefix, not a secret


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Stream:
    id: str
    audience: str
    method: str
    endpoint_url: str | None
    authorization_header: str | None
    events_requested: tuple[str, ...]
    description: str
    status: str
    reason: str | None

    def configuration(self, issuer: str) -> dict[str, Any]:
        """The stream as SSF 1.0 §8.1.1 shows it (never the push authorization header)."""
        delivery: dict[str, Any] = {"method": self.method}
        if self.endpoint_url:
            delivery["endpoint_url"] = self.endpoint_url
        else:
            delivery["endpoint_url"] = f"{issuer}/ssf/poll/{self.id}"
        return {
            "stream_id": self.id,
            "iss": issuer,
            "aud": self.audience,
            "events_supported": list(ssf.EVENTS_SUPPORTED),
            "events_requested": list(self.events_requested),
            "events_delivered": ssf.delivered(self.events_requested),
            "delivery": delivery,
            "description": self.description,
            "status": self.status,
        }


def _stream(row: Any) -> Stream:
    return Stream(
        row.id,
        row.audience,
        row.method,
        row.endpoint_url,
        row.authorization_header,
        tuple(row.events_requested or ()),
        row.description,
        row.status,
        row.reason,
    )


@dataclass(frozen=True, slots=True)
class Created:
    stream: Stream
    #: the bearer token the receiver polls and manages with (shown once)
    token: str


class Streams:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    def create(self, request: ssf.StreamRequest, *, actor: str) -> Created:
        now = self._clock.now()
        stream_id = uuid.uuid4().hex
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._db.write() as connection:
            connection.execute(
                sa.insert(_S).values(
                    id=stream_id,
                    audience=request.audience,
                    method=request.method,
                    endpoint_url=request.endpoint_url,
                    authorization_header=request.authorization_header,
                    events_requested=list(request.events_requested),
                    description=request.description,
                    status="enabled",
                    reason=None,
                    token_hash=token_hash(token),
                    created_at=now,
                    updated_at=now,
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor, "ssf.stream_create", "ssf_stream", stream_id, None, _summary(request)
                ),
            )
            stream = self._get(connection, stream_id)
        return Created(stream, token)

    def _get(self, connection: Connection, stream_id: str) -> Stream:
        row = connection.execute(sa.select(_S).where(_S.c.id == stream_id)).first()
        if row is None:
            raise NotFound(f"no stream {stream_id!r}", field="stream_id")
        return _stream(row)

    def get(self, stream_id: str) -> Stream:
        with self._db.read() as connection:
            return self._get(connection, stream_id)

    def list(self) -> builtins.list[Stream]:
        with self._db.read() as connection:
            rows = connection.execute(sa.select(_S).order_by(_S.c.created_at, _S.c.id))
            return [_stream(r) for r in rows]

    def by_token(self, token: str) -> Stream | None:
        """The stream whose bearer token this is (constant-time on the hash)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = token_hash(token)
        with self._db.read() as connection:
            row = connection.execute(sa.select(_S).where(_S.c.token_hash == digest)).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return _stream(row)

    def replace(self, stream_id: str, request: ssf.StreamRequest, *, actor: str) -> Stream:
        with self._db.write() as connection:
            old = self._get(connection, stream_id)
            connection.execute(
                sa.update(_S)
                .where(_S.c.id == stream_id)
                .values(
                    audience=request.audience,
                    method=request.method,
                    endpoint_url=request.endpoint_url,
                    authorization_header=request.authorization_header,
                    events_requested=list(request.events_requested),
                    description=request.description,
                    updated_at=self._clock.now(),
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "ssf.stream_update",
                    "ssf_stream",
                    stream_id,
                    {
                        "aud": old.audience,
                        "method": old.method,
                        "events": list(old.events_requested),
                    },
                    _summary(request),
                ),
            )
            return self._get(connection, stream_id)

    def delete(self, stream_id: str, *, actor: str) -> None:
        with self._db.write() as connection:
            old = self._get(connection, stream_id)
            connection.execute(sa.delete(_O).where(_O.c.stream_id == stream_id))
            connection.execute(sa.delete(_U).where(_U.c.stream_id == stream_id))
            connection.execute(sa.delete(_S).where(_S.c.id == stream_id))
            self._audit.record(
                connection,
                EventDraft(
                    actor, "ssf.stream_delete", "ssf_stream", stream_id, {"aud": old.audience}
                ),
            )

    def set_status(self, stream_id: str, status: str, reason: str | None, *, actor: str) -> Stream:
        if status not in ssf.STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(ssf.STATUSES)}", field="status")
        with self._db.write() as connection:
            old = self._get(connection, stream_id)
            connection.execute(
                sa.update(_S)
                .where(_S.c.id == stream_id)
                .values(status=status, reason=reason, updated_at=self._clock.now())
            )
            if status == "disabled":  # SSF 1.0 §8.1.2.1: a disabled stream keeps nothing
                connection.execute(
                    sa.delete(_O).where(_O.c.stream_id == stream_id, _O.c.status == "pending")
                )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "ssf.stream_status",
                    "ssf_stream",
                    stream_id,
                    {"status": old.status},
                    {"status": status, "reason": reason},
                ),
            )
            return self._get(connection, stream_id)

    def set_subject(self, stream_id: str, subject: Any, *, included: bool, actor: str) -> None:
        key = ssf.subject_key(subject)
        with self._db.write() as connection:
            self._get(connection, stream_id)
            where = (_U.c.stream_id == stream_id, _U.c.subject_key == key)
            connection.execute(sa.delete(_U).where(*where))
            connection.execute(
                sa.insert(_U).values(
                    stream_id=stream_id, subject_key=key, subject=dict(subject), included=included
                )
            )
            verb = "subject_add" if included else "subject_remove"
            self._audit.record(
                connection,
                EventDraft(actor, f"ssf.{verb}", "ssf_stream", stream_id, None, {"subject": key}),
            )

    def excluded(self, connection: Connection) -> dict[str, set[str]]:
        """Per stream, the subjects removed from it."""
        rows = connection.execute(
            sa.select(_U.c.stream_id, _U.c.subject_key).where(_U.c.included.is_(False))
        )
        out: dict[str, set[str]] = {}
        for row in rows:
            out.setdefault(row.stream_id, set()).add(row.subject_key)
        return out


def _summary(request: ssf.StreamRequest) -> dict[str, Any]:
    return {
        "aud": request.audience,
        "method": request.method,
        "endpoint_url": request.endpoint_url,
        "events": list(request.events_requested),
    }
