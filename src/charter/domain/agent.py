"""The agent: an AI agent identity with an owner, a charter and a lifecycle state."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from charter.domain.charter import CharterSpec
from charter.domain.enums import AgentState


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    owner: str
    state: AgentState
    charter: CharterSpec | None
    charter_version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    labels: dict[str, str] = field(default_factory=dict)
    purpose: str = ""
    pending_owner: str | None = None

    def is_expired(self, today: dt.date) -> bool:
        return bool(self.charter and self.charter.expires and self.charter.expires < today)


@dataclass(frozen=True, slots=True)
class CharterVersion:
    agent: str
    version: int
    document: dict[str, object]
    created_at: dt.datetime
    created_by: str
    reason: str
