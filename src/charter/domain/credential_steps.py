"""What revoke and rotate steps read about one credential.

Where it is and what it is, never the secret.

The steps themselves are the system's knowledge, so each connector declares them
(``Connector.revoke_steps`` and ``Connector.rotation_steps``); the services build a
:class:`CredentialRef` from a stored credential and ask the connector that knows
its provider, falling back to generic steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CredentialRef:
    id: str  # the credential's id, "<source>:<account>:…"
    source: str  # the source that found it (a connector's id, or "fs" for the scanner)
    provider: str  # the system that issued it; the connector that knows it gives its steps
    kind: str  # a CredentialKind value, e.g. "access_key"
    preview: str = ""
    location: str | None = None
    identity_name: str | None = None  # the name of the identity that holds it, if known
    native_id: str | None = None  # that identity's id in its own system
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key_id(self) -> str:
        """The id the provider knows the key by: ``key_id`` if recorded, else the id's last part."""
        return str(self.properties.get("key_id") or self.id.rsplit("/", 1)[-1])

    @property
    def holder(self) -> str:
        """Who holds it, as the provider's commands name them."""
        return self.identity_name or self.native_id or "the identity"
