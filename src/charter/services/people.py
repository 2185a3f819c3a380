"""The directory: people who own, sponsor and delegate to agents.

Imports JSON (a list, ``{"people": [...]}``, or a SCIM 2.0 ListResponse with
``Resources``) or CSV (``email,name,status,manager,groups,external_ids`` with groups
and external ids split on ``;``). Every record is validated (a SCIM ListResponse by
its schema), and a field Charter does not know is refused unless the caller allows it, when it is
named in a warning (never dropped silently). An import is an upsert: one
transaction, one audit event per person created or changed, nothing written if
any record is bad.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator

from charter.domain.audit import EventDraft
from charter.domain.charter_parsing import validation_error
from charter.domain.enums import PersonStatus
from charter.domain.nesting import load_json
from charter.domain.people import Person
from charter.domain.scim import ScimListResponse
from charter.errors import InputTooLarge, InvalidInput, NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store import schema
from charter.store.database import Database
from charter.store.versions import bump_version

_P = schema.people
MAX_DIRECTORY_BYTES = 64 * 1024 * 1024


class PersonRecord(BaseModel):
    """One person as accepted on import (and by the API)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    status: PersonStatus = PersonStatus.ACTIVE
    manager: EmailStr | None = None
    groups: list[str] = Field(default_factory=list, max_length=1000)
    #: other names in identity providers (an IdP's opaque subject id, a SCIM externalId)
    external_ids: list[str] = Field(default_factory=list, max_length=32)

    @field_validator("external_ids")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        for alias in value:
            if not alias or len(alias) > 320:
                raise ValueError("an external id is 1 to 320 characters")
        return list(dict.fromkeys(value))

    @field_validator("email", "manager")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @field_validator("manager", mode="before")
    @classmethod
    def _empty_manager(cls, value: Any) -> Any:
        return value or None

    def to_person(self) -> Person:
        return Person(
            self.email,
            self.name,
            self.status,
            self.manager,
            tuple(self.groups),
            tuple(self.external_ids),
        )


@dataclass(frozen=True)
class DirectoryRead:
    """What an import file holds: the records, and the unknown fields left out of them."""

    records: list[PersonRecord]
    unknown: tuple[str, ...] = ()

    def warning(self, filename: str) -> str | None:
        if not self.unknown:
            return None
        return f"{filename}: ignored unknown field(s) {', '.join(self.unknown)}"


def parse_directory(data: bytes, *, filename: str) -> list[PersonRecord]:
    """Parse a directory export (JSON, SCIM JSON or CSV) into validated records.

    Strict: a field Charter does not know (``isAdmin``) is refused, never dropped
    silently; :func:`read_directory` with ``allow_unknown`` names them instead.
    """
    return read_directory(data, filename=filename).records


def read_directory(data: bytes, *, filename: str, allow_unknown: bool = False) -> DirectoryRead:
    """Parse a directory export; unknown fields are an error unless ``allow_unknown``."""
    if len(data) > MAX_DIRECTORY_BYTES:
        raise InputTooLarge(f"{filename} is larger than {MAX_DIRECTORY_BYTES} bytes", field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{filename} is not UTF-8 text", field="file") from exc
    unknown: dict[str, str] = {}  # field -> where first seen
    if filename.lower().endswith(".csv") or not text.lstrip().startswith(("[", "{")):
        raw = _csv_rows(text, filename, unknown)
    else:
        raw = _json_rows(load_json(text, source=filename), filename, unknown)
    if unknown and not allow_unknown:
        field, where = next(iter(unknown.items()))
        names = ", ".join(unknown)
        raise InvalidInput(
            f"{filename}: unknown field(s) {names} ({where}); Charter imports only "
            f"{', '.join(PERSON_FIELDS)} (or SCIM User attributes); "
            "--allow-unknown (API: ?allow_unknown=true) imports without them",
            field=field,
        )
    return DirectoryRead(_records(raw, filename), tuple(unknown))


PERSON_FIELDS = tuple(PersonRecord.model_fields)


def _csv_rows(text: str, filename: str, unknown: dict[str, str]) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "email" not in reader.fieldnames:
        raise InvalidInput(f"{filename}: a CSV directory needs an 'email' column", field="email")
    for column in reader.fieldnames:
        if column not in PersonRecord.model_fields:
            unknown.setdefault(column, "a CSV column")
    return [
        {
            **{k: v for k, v in row.items() if k in PersonRecord.model_fields},
            "groups": [g.strip() for g in (row.get("groups") or "").split(";") if g.strip()],
            "external_ids": [
                a.strip() for a in (row.get("external_ids") or "").split(";") if a.strip()
            ],
        }
        for row in reader
    ]


def _json_rows(document: Any, filename: str, unknown: dict[str, str]) -> list[Any]:
    if isinstance(document, dict) and "Resources" in document:
        return _scim_rows(document, filename, unknown)
    if isinstance(document, dict) and isinstance(document.get("people"), list):
        raw: list[Any] = document["people"]
    elif isinstance(document, list):
        raw = document
    else:
        raise InvalidInput(
            f"{filename}: expected a list of people, {{'people': [...]}} or a SCIM ListResponse",
            field="file",
        )
    rows = []
    for index, item in enumerate(raw):
        if isinstance(item, dict):
            for key in item:
                if key not in PersonRecord.model_fields:
                    unknown.setdefault(str(key), f"first in record {index}")
            item = {k: v for k, v in item.items() if k in PersonRecord.model_fields}
        rows.append(item)
    return rows


def _scim_rows(document: dict[str, Any], filename: str, unknown: dict[str, str]) -> list[Any]:
    try:
        listing = ScimListResponse.model_validate(document)
    except ValidationError as exc:
        error = validation_error(exc, what=f"SCIM ListResponse in {filename}")
        raise InvalidInput(error.message, field=error.field) from exc
    users = listing.Resources or []
    emails_by_id = {str(u.id): str(u.email()) for u in users if u.id is not None and u.id != ""}
    for index, user in enumerate(users):
        for key in user.unknown_attributes():
            unknown.setdefault(key, f"first in Resources[{index}]")
    return [user.person(emails_by_id) for user in users]


def _records(raw: list[Any], filename: str) -> list[PersonRecord]:
    records = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidInput(f"{filename}: record {index} is not an object", field=f"[{index}]")
        try:
            record = PersonRecord.model_validate(item)
        except ValidationError as exc:
            error = validation_error(exc, what=f"person record {index} in {filename}")
            raise InvalidInput(error.message, field=f"[{index}].{error.field}") from exc
        if record.email in seen:
            raise InvalidInput(
                f"{filename}: {record.email} appears twice", field=f"[{index}].email"
            )
        seen.add(record.email)
        records.append(record)
    return records


class PeopleService:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    def import_records(self, records: Iterable[PersonRecord], *, actor: str) -> dict[str, int]:
        """Upsert people; returns counts of created, changed and unchanged."""
        now = self._clock.now()
        counts = {"created": 0, "changed": 0, "unchanged": 0}
        records = list(records)
        with self._db.write() as connection:
            existing = {
                row.email: row
                for row in connection.execute(
                    sa.select(_P).where(_P.c.email.in_([r.email for r in records]))
                )
            }
            drafts: list[EventDraft] = []
            for record in records:
                values = {
                    "name": record.name,
                    "status": record.status.value,
                    "manager": record.manager,
                    "groups": record.groups,
                    "external_ids": record.external_ids,
                }
                old = existing.get(record.email)
                if old is None:
                    connection.execute(
                        sa.insert(_P).values(email=record.email, updated_at=now, **values)
                    )
                    counts["created"] += 1
                    drafts.append(
                        EventDraft(actor, "person.import", "person", record.email, None, values)
                    )
                    continue
                before = {
                    "name": old.name,
                    "status": old.status,
                    "manager": old.manager,
                    "groups": list(old.groups or []),
                    "external_ids": list(old.external_ids or []),
                }
                if before == values:
                    counts["unchanged"] += 1
                    continue
                connection.execute(
                    sa.update(_P).where(_P.c.email == record.email).values(updated_at=now, **values)
                )
                counts["changed"] += 1
                changed = {k: v for k, v in values.items() if before[k] != v}
                drafts.append(
                    EventDraft(
                        actor,
                        "person.update",
                        "person",
                        record.email,
                        {k: before[k] for k in changed},
                        changed,
                    )
                )
            self._audit.record_many(connection, drafts)
            if drafts:
                bump_version(connection, "people")
        return counts

    def get(self, email: str) -> Person:
        with self._db.read() as connection:
            row = connection.execute(sa.select(_P).where(_P.c.email == email.lower())).first()
        if row is None:
            raise NotFound(f"no person {email!r} in the directory", field="email")
        return _person(row)

    def list(
        self, *, status: PersonStatus | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[Person], int]:
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        query = sa.select(_P)
        count = sa.select(sa.func.count()).select_from(_P)
        if status:
            query, count = (
                query.where(_P.c.status == status.value),
                count.where(_P.c.status == status.value),
            )
        with self._db.read() as connection:
            total = int(connection.execute(count).scalar_one())
            rows = connection.execute(query.order_by(_P.c.email).limit(limit).offset(offset))
            return [_person(r) for r in rows], total


def _person(row: Any) -> Person:
    return Person(
        row.email,
        row.name,
        PersonStatus(row.status),
        row.manager,
        tuple(row.groups or ()),
        tuple(row.external_ids or ()),
    )
