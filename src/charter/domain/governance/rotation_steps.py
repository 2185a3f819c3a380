"""Rotation steps the core owns (pure: data in, text out); each provider's own are its connector's.

A connector declares how its system's credentials rotate
(``Connector.rotation_steps``): create the new secret first, switch the
consumer over, disable the old one and only then delete it. The core ends
every recipe by re-ingesting the source, so Charter can verify the old secret
is gone (``charter rotation verify ID``); a credential no connector knows gets
the generic recipe, and Charter's own enrolled keys get Charter's.
"""

from __future__ import annotations

from charter.domain.credential_steps import CredentialRef

_VERIFY = (
    "Re-ingest the source ('charter discover {source} EXPORT') "
    "and run 'charter rotation verify ROTATION'."
)


def verify_step(source: str) -> str:
    """The last step of every external rotation: the next ingest is what proves it."""
    return _VERIFY.format(source=source)


def rotation_steps(credential: CredentialRef, declared: list[str] | None) -> list[str]:
    """The full recipe: the provider's ``declared`` steps (None: generic ones), then verify."""
    if declared is None:
        who = credential.holder
        provider = credential.provider
        declared = [
            f"Issue a new {credential.kind.replace('_', ' ')} for {who} at {provider}.",
            "Store it where the agent reads it and redeploy.",
            f"Revoke the old one ({credential.id}) at {provider}.",
        ]
    return [*declared, verify_step(credential.source)]


def charter_key_steps(agent: str, kid: str) -> list[str]:
    """An agent's enrolled key: the agent holds the private key, so it enrols the new one."""
    return [
        f"charter agent enroll {agent} --generate --out new-key.pem  # the old key overlaps",
        "Deploy new-key.pem to the agent; its next token request uses it.",
        f"charter agent revoke-key {agent} {kid} --reason rotated",
        "charter rotation verify ROTATION",
    ]
