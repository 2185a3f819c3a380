"""The steps that revoke or rotate a stored credential, from the connector that knows its system.

The core knows no provider: it asks :func:`charter.connectors.registry.knowing`
and falls back to generic steps. Only a secret the scanner found written in a
file (source ``fs``) gets steps of the core's own: it is exposed, so it goes
from the file and is revoked wherever it was issued.
"""

from __future__ import annotations

from typing import Any, Protocol

from charter.connectors import registry
from charter.domain.credential_steps import CredentialRef
from charter.domain.estate import SCANNER_SOURCE
from charter.domain.governance.rotation_steps import rotation_steps


class Rotator(Protocol):
    """A connector that can rotate a credential itself (none is registered yet)."""

    def rotate(self, credential: dict[str, Any]) -> str: ...


#: Rotators by provider: every connector is read-only today, so rotations file tasks.
ROTATORS: dict[str, Rotator] = {}


def stored(row: Any) -> CredentialRef:
    """A row of the credentials table, as the steps read it."""
    return CredentialRef(
        id=row.id,
        source=row.source,
        provider=row.provider,
        kind=row.kind,
        preview=row.preview,
        location=row.location,
        properties=row.properties or {},
    )


def scheduled(row: Any) -> CredentialRef:
    """A row of the rotation scheduler's query: the provider matches whatever its case."""
    return CredentialRef(
        id=row.id,
        source=row.id.split(":", 1)[0],
        provider=row.provider.lower(),
        kind=row.kind,
        location=row.location,
        identity_name=row.identity_name,
        native_id=row.native_id,
        properties=row.properties or {},
    )


def revoke_steps(credential: CredentialRef) -> tuple[str, ...]:
    """What a person does to take the credential away (a decommission task's steps)."""
    if credential.source == SCANNER_SOURCE:
        return (
            f"Remove the secret from {credential.location} (and from git history if committed).",
            f"Revoke it at {credential.provider}: it was exposed.",
        )
    for connector in registry.knowing(credential):
        declared = connector.revoke_steps(credential)
        if declared is not None:
            return declared
    where = f" ({credential.location})" if credential.location else ""
    return (
        f"Revoke {credential.kind.replace('_', ' ')} {credential.preview} "
        f"at {credential.provider}{where}.",
    )


def rotate_steps(credential: CredentialRef) -> list[str]:
    """The rotation recipe: the provider's steps (or generic ones), then verify by re-ingesting."""
    for connector in registry.knowing(credential):
        declared = connector.rotation_steps(credential)
        if declared is not None:
            return rotation_steps(credential, declared)
    return rotation_steps(credential, None)
