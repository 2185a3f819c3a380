"""What rules look at: typed, immutable facts about agents, identities and credentials.

The loader (:mod:`charter.services.governance.loader`) reads the store once and builds
these; rules are pure functions over one fact and a :class:`RuleContext`, so
they run offline on fixtures exactly as they run on the store, and a rule can
never write anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from charter.domain.charter import CharterSpec
from charter.domain.enums import AgentState
from charter.domain.estate import Identity
from charter.domain.governance.policy import Thresholds

_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Usage:
    """Observed use of one action on one resource, aggregated over the activity window.

    ``allowed`` is True/False for decisions Charter made, and None for actions
    observed in ingested logs (no decision was involved).
    """

    action: str
    resource: str
    allowed: bool | None
    source: str
    count: int
    first: dt.datetime
    last: dt.datetime

    @property
    def denied(self) -> bool:
        return self.allowed is False

    @property
    def observed(self) -> bool:
        return self.allowed is None


@dataclass(frozen=True, slots=True)
class RateWindow:
    """An agent's requests in the recent window beside its own baseline (runaway detection)."""

    start: dt.datetime
    end: dt.datetime
    requests: int
    denials: int
    baseline_start: dt.datetime
    baseline_requests: int
    baseline_denials: int

    @property
    def windows_in_baseline(self) -> float:
        return max((self.start - self.baseline_start) / (self.end - self.start), 1.0)

    @property
    def expected_requests(self) -> float:
        """Requests per window the baseline predicts."""
        return self.baseline_requests / self.windows_in_baseline

    @property
    def expected_denials(self) -> float:
        return self.baseline_denials / self.windows_in_baseline


@dataclass(frozen=True, slots=True)
class PersonFacts:
    email: str
    name: str
    active: bool
    manager: str | None


@dataclass(frozen=True, slots=True)
class AgentBrief:
    """What other entities' rules need to know about an agent."""

    name: str
    owner: str
    state: AgentState
    environment: str
    rotate_every: int | None


@dataclass(frozen=True, slots=True)
class AgentFacts:
    name: str
    owner: str
    state: AgentState
    origin: str
    environment: str
    created_at: dt.datetime
    updated_at: dt.datetime
    expires: dt.date | None
    charter: CharterSpec | None
    charter_version: int = 1
    pending_owner: str | None = None
    pending_owner_since: dt.datetime | None = None
    usage: tuple[Usage, ...] = ()
    rate: RateWindow | None = None
    last_activity: dt.datetime | None = None
    last_review: dt.datetime | None = None
    credential_count: int = 0
    identity_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GrantFacts:
    id: str
    system: str
    resource: str
    permissions: tuple[str, ...]
    reason: str
    properties: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class IdentityFacts(Identity):
    """An identity as rules see it: the estate's record, and what the loader joins to it."""

    first_seen: dt.datetime | None = None
    grants: tuple[GrantFacts, ...] = ()
    usage: tuple[Usage, ...] = ()
    passwords: tuple[CredentialBrief, ...] = ()
    #: whether its source records last use for this kind (else "never used" means nothing)
    usage_tracked: bool = True
    #: the person whose own account this is (an IAM user named after someone in the directory)
    person: str | None = None


@dataclass(frozen=True, slots=True)
class CredentialBrief:
    """Another credential, as a rule about this one needs to see it."""

    id: str
    source: str
    account: str
    kind: str
    agent: str | None = None
    identity: str | None = None
    environment: str | None = None
    last_used_at: dt.datetime | None = None
    location: str | None = None


class CredentialFacts(NamedTuple):
    """A credential's facts. A named tuple, not a frozen dataclass: estates hold millions of
    credentials and a tuple is built several times faster (it is just as immutable)."""

    id: str
    source: str
    account: str
    kind: str
    provider: str
    fingerprint: str
    preview: str
    identity: str | None = None
    agent: str | None = None
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    last_rotated_at: dt.datetime | None = None
    first_seen: dt.datetime | None = None
    location: str | None = None
    properties: Mapping[str, Any] = _EMPTY
    identity_kind: str | None = None
    identity_name: str | None = None
    identity_owner: str | None = None
    identity_system: str | None = None
    #: every credential holding the same secret (this one included), when there is more than one
    same_secret: tuple[CredentialBrief, ...] = ()
    usage_tracked: bool = True


@dataclass(frozen=True, slots=True)
class RuleContext:
    """Everything a rule may consult besides its own fact: the clock, thresholds, the directory."""

    now: dt.datetime
    thresholds: Thresholds
    people: Mapping[str, PersonFacts] = field(default_factory=dict)
    agents: Mapping[str, AgentBrief] = field(default_factory=dict)

    def person(self, email: str | None) -> PersonFacts | None:
        return self.people.get(email.lower()) if email else None

    def successor(self, email: str | None) -> str | None:
        """The nearest active manager above ``email`` (who inherits what a leaver owned)."""
        seen: set[str] = set()
        person = self.person(email)
        while person is not None and person.email not in seen:
            seen.add(person.email)
            manager = self.person(person.manager)
            if manager is None:
                return None
            if manager.active:
                return manager.email
            person = manager
        return None

    def days_since(self, moment: dt.datetime | None) -> float | None:
        if moment is None:
            return None
        return (self.now - moment).total_seconds() / 86400

    def older_than(self, moment: dt.datetime | None, seconds: int) -> bool:
        """True when ``moment`` is known and more than ``seconds`` ago."""
        return moment is not None and (self.now - moment).total_seconds() > seconds
