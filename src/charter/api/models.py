"""Pydantic response models for the management API (``/v1``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from charter.api.records import record_fields
from charter.domain.agent import Agent
from charter.domain.audit import Event
from charter.domain.people import Person

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PeopleImportOut(BaseModel):
    created: int
    changed: int
    unchanged: int
    warnings: list[str] = []


class AgentOut(BaseModel):
    name: str
    owner: str
    state: str
    purpose: str
    labels: dict[str, str]
    charter_version: int
    pending_owner: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    charter: dict[str, Any] | None
    warnings: list[str] = []

    @classmethod
    def of(cls, agent: Agent, warnings: list[str] | None = None) -> AgentOut:
        return cls(
            name=agent.name,
            owner=agent.owner,
            state=agent.state.value,
            purpose=agent.purpose,
            labels=agent.labels,
            charter_version=agent.charter_version,
            pending_owner=agent.pending_owner,
            created_at=agent.created_at,
            updated_at=agent.updated_at,
            charter=agent.charter.document() if agent.charter else None,
            warnings=warnings or [],
        )


class CharterVersionOut(BaseModel):
    version: int
    created_at: dt.datetime
    created_by: str
    reason: str
    document: dict[str, Any]
    diff: str


class PersonOut(BaseModel):
    email: str
    name: str
    status: str
    manager: str | None
    groups: list[str]
    #: the person's names in identity providers (AuthZEN subjects may use them)
    external_ids: list[str] = []

    @classmethod
    def of(cls, person: Person) -> PersonOut:
        return cls(
            email=person.email,
            name=person.name,
            status=person.status.value,
            manager=person.manager,
            groups=list(person.groups),
            external_ids=list(person.external_ids),
        )


class EventOut(BaseModel):
    # The event's fields (the domain declares them), its summary as what changed.
    __annotations__ = record_fields(Event, replace={"summary": {"before": Any, "after": Any}})

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls.model_validate({name: getattr(event, name) for name in cls.model_fields})


class ChainOut(BaseModel):
    ok: bool
    events: int
    first_broken_seq: int | None
    problem: str | None
    keyed_from: int | None = None
    legacy_events: int = 0
    links_checked: bool = False
    key_id: str | None = None
