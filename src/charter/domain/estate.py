"""The estate: non-human identities, credentials, systems and the grants between them.

Connectors normalise every source into these records (pure data); the
discovery service reconciles them into the store, per source and account.
Secrets are never here: a credential is a fingerprint, a provider and a
redacted preview.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from charter.domain.enums import CredentialKind, IdentityKind

#: The source the secret scanner records under (``charter discover fs``). What it finds
#: are copies of secrets in files, not accounts a connector lists, so rules, the map
#: and rotation treat them apart; every such test names this constant.
SCANNER_SOURCE = "fs"


@dataclass(frozen=True, slots=True)
class System:
    """Where access lands: ``aws:123456789012``, ``github:acme``, ``slack:acme``."""

    id: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class Identity:
    """A non-human principal seen in a system.

    The one identity record: connectors emit it, the inventory and the shadow views
    read it back, rules see it as :class:`~charter.domain.governance.facts.IdentityFacts`
    (this and what the loader joins in) and the API's ``IdentityOut`` takes its fields.
    """

    id: str  # stable: "<source>:<account>:<native id>"
    source: str
    account: str
    kind: IdentityKind
    name: str
    system: str
    native_id: str = ""
    owner: str | None = None
    owner_confidence: float = 0.0
    agent: str | None = None
    ai_related: bool = False
    created_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    evidence: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Credential:
    """Something that authenticates, as fingerprint and metadata only."""

    id: str
    source: str
    account: str
    kind: CredentialKind
    provider: str
    fingerprint: str  # SHA-256 hex of the secret (or of the public key / key id)
    preview: str  # provider prefix + last 4 characters, e.g. "sk-proj-…a1b2"
    identity: str | None = None
    agent: str | None = None
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    last_rotated_at: dt.datetime | None = None
    location: str | None = None  # file:line[@commit] or a console path
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Grant:
    """An edge: identity or credential → system/resource, with permissions and why."""

    id: str
    source: str
    account: str
    subject_type: str  # "identity" | "credential" | "agent"
    subject: str
    system: str
    resource: str
    permissions: tuple[str, ...]
    reason: str
    properties: dict[str, Any] = field(default_factory=dict)
