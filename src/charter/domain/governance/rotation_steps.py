"""The exact steps to rotate a credential, per provider (pure: data in, text out).

Each recipe creates the new secret first, switches the consumer over, disables
the old one and only then deletes it, and ends by re-ingesting the source so
Charter can verify the old secret is gone (``charter rotation verify ID``).
Commands are the providers' own CLIs, documented at the linked pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_VERIFY = (
    "Re-ingest the source ('charter discover {source} EXPORT') "
    "and run 'charter rotation verify ROTATION'."
)


def _name(identity_name: str | None, native_id: str | None, fallback: str) -> str:
    return identity_name or native_id or fallback


def rotation_steps(
    provider: str,
    kind: str,
    credential: str,
    identity_name: str | None,
    native_id: str | None,
    location: str | None,
    properties: Mapping[str, Any],
) -> list[str]:
    """Steps for one credential; unknown providers get the generic recipe."""
    provider = provider.lower()
    source = credential.split(":", 1)[0]
    key_id = str(properties.get("key_id") or credential.rsplit("/", 1)[-1])
    who = _name(identity_name, native_id, "the identity")
    verify = _VERIFY.format(source=source)
    if provider == "aws" and kind == "access_key":
        user = who if identity_name else (location or "USER").removeprefix("aws iam user ")
        return [
            f"aws iam create-access-key --user-name {user}",
            "Store the new key in the secret manager the agent reads and redeploy it.",
            f"aws iam update-access-key --user-name {user} --access-key-id {key_id} "
            "--status Inactive",
            "Watch for errors for a day (CloudTrail, the agent's logs); "
            "reactivate only to roll back.",
            f"aws iam delete-access-key --user-name {user} --access-key-id {key_id}",
            "Better: replace the key with an IAM role and OIDC federation, "
            "then delete it for good.",
            verify,
        ]
    if provider in ("gcp", "google") and kind in ("private_key", "access_key"):
        return [
            f"gcloud iam service-accounts keys create new-key.json --iam-account={who}",
            "Store new-key.json in the secret manager the agent reads, "
            "redeploy, then shred the file.",
            f"gcloud iam service-accounts keys disable {key_id} --iam-account={who}",
            f"gcloud iam service-accounts keys delete {key_id} --iam-account={who}",
            "Better: use Workload Identity Federation and stop creating keys.",
            verify,
        ]
    if provider in ("entra", "azure", "microsoft") and kind in ("client_secret", "certificate"):
        app = properties.get("held_by") or who
        return [
            f"az ad app credential reset --id {app} --append --display-name rotated "
            "--years 0 --end-date $(date -d '+90 days' +%Y-%m-%d)",
            "Store the new secret in Key Vault and redeploy the agent.",
            f"az ad app credential delete --id {app} --key-id {key_id}",
            "Better: a federated identity credential or a managed identity (no secret at all).",
            verify,
        ]
    if provider == "github":
        return [
            "Create a replacement fine-grained token with the same repositories and permissions "
            "(https://github.com/settings/personal-access-tokens/new), "
            "expiring in at most 90 days.",
            "Store it where the agent reads it and redeploy.",
            f"Revoke the old token {key_id} (Settings → Developer settings → Fine-grained tokens).",
            "Better: a GitHub App installation token, which expires within an hour.",
            verify,
        ]
    if provider == "okta":
        return [
            "Create a new API token as a dedicated service user (Security → API → Tokens).",
            "Store it where the agent reads it and redeploy.",
            f"Revoke the old token {key_id} in the same page.",
            "Better: an OAuth 2.0 service app with private_key_jwt and scoped grants.",
            verify,
        ]
    if source == "k8s" or (kind == "token" and properties.get("secret_type")):
        namespace = properties.get("namespace", "NAMESPACE")
        return [
            f"kubectl -n {namespace} create token {who} --duration=1h  # bound, short-lived",
            "Switch the workload to the projected service account token volume.",
            f"kubectl -n {namespace} delete secret <the long-lived token secret of {who}>",
            verify,
        ]
    if provider == "charter":
        return [
            f"charter agent enroll {who} --generate --out new-key.pem  # the old key overlaps",
            "Deploy new-key.pem to the agent; its next token request uses it.",
            f"charter agent revoke-key {who} {key_id} --reason rotated",
            "charter rotation verify ROTATION",
        ]
    return [
        f"Issue a new {kind.replace('_', ' ')} for {who} at {provider}.",
        "Store it where the agent reads it and redeploy.",
        f"Revoke the old one ({credential}) at {provider}.",
        verify,
    ]
