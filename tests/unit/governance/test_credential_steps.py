"""Revoke and rotate steps: the connector whose system issued a credential declares them.

The core asks the connector that knows the credential's provider, then the one that found
it, and falls back to generic steps; a secret found in a file gets the core's own.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from charter.domain.credential_steps import CredentialRef
from charter.domain.governance.rotation_steps import charter_key_steps, verify_step
from charter.services.governance.credential_steps import (
    revoke_steps,
    rotate_steps,
    scheduled,
    stored,
)


def _ref(provider: str, kind: str, source: str, **extra: Any) -> CredentialRef:
    return CredentialRef(
        id=f"{source}:acct:thing/KEY1",
        source=source,
        provider=provider,
        kind=kind,
        preview="ab…cd",
        **extra,
    )


def test_an_aws_access_key_is_revoked_and_rotated_with_the_aws_cli() -> None:
    key = _ref(
        "aws",
        "access_key",
        "aws",
        location="aws iam user alice",
        identity_name="bot",
        properties={"key_id": "K1"},
    )
    assert revoke_steps(key) == (
        "aws iam update-access-key --user-name alice --access-key-id K1 --status Inactive",
        "aws iam delete-access-key --user-name alice --access-key-id K1",
    )
    assert rotate_steps(key) == [
        "aws iam create-access-key --user-name bot",
        "Store the new key in the secret manager the agent reads and redeploy it.",
        "aws iam update-access-key --user-name bot --access-key-id K1 --status Inactive",
        "Watch for errors for a day (CloudTrail, the agent's logs); reactivate only to roll back.",
        "aws iam delete-access-key --user-name bot --access-key-id K1",
        "Better: replace the key with an IAM role and OIDC federation, then delete it for good.",
        verify_step("aws"),
    ]


def test_the_issuer_decides_wherever_the_key_was_found() -> None:
    in_a_secret = _ref("aws", "access_key", "k8s", location="aws iam user alice")
    assert rotate_steps(in_a_secret)[0] == "aws iam create-access-key --user-name alice"
    assert rotate_steps(in_a_secret)[-1] == verify_step("k8s")
    assert revoke_steps(in_a_secret)[0].startswith("aws iam update-access-key")


def test_a_secret_no_issuer_knows_is_rotated_the_way_of_the_cluster_that_holds_it() -> None:
    openai_key = _ref("openai", "api_key", "k8s")
    assert rotate_steps(openai_key) == [
        "kubectl -n NAMESPACE create token the identity --duration=1h  # bound, short-lived",
        "Switch the workload to the projected service account token volume.",
        "kubectl -n NAMESPACE delete secret <the long-lived token secret of the identity>",
        verify_step("k8s"),
    ]
    assert revoke_steps(openai_key) == ("Revoke api key ab…cd at openai.",)


def test_each_provider_has_its_own_recipe() -> None:
    pat = _ref("github", "token", "github")
    assert revoke_steps(pat) == (
        "Revoke token KEY1 (organisation settings → Personal access tokens).",
    )
    assert rotate_steps(pat)[2] == (
        "Revoke the old token KEY1 (Settings → Developer settings → Fine-grained tokens)."
    )
    secret = _ref(
        "entra", "client_secret", "entra", identity_name="bot", properties={"held_by": "app-1"}
    )
    assert rotate_steps(secret)[2] == "az ad app credential delete --id app-1 --key-id KEY1"
    gcp_key = _ref("gcp", "private_key", "gcp", identity_name="bot")
    assert rotate_steps(gcp_key)[0] == (
        "gcloud iam service-accounts keys create new-key.json --iam-account=bot"
    )
    okta = _ref("okta", "token", "okta")
    assert rotate_steps(okta)[2] == "Revoke the old token KEY1 in the same page."


def test_what_no_connector_knows_gets_the_generic_steps() -> None:
    odd = _ref("acme", "api_key", "okta", identity_name="bot", location="vault/acme")
    assert rotate_steps(odd) == [
        "Issue a new api key for bot at acme.",
        "Store it where the agent reads it and redeploy.",
        "Revoke the old one (okta:acct:thing/KEY1) at acme.",
        verify_step("okta"),
    ]
    assert revoke_steps(odd) == ("Revoke api key ab…cd at acme (vault/acme).",)
    not_a_key = _ref("aws", "password", "aws")
    assert rotate_steps(not_a_key)[0] == "Issue a new password for the identity at aws."


def test_a_secret_found_in_a_file_is_removed_and_revoked_as_exposed() -> None:
    leaked = _ref("github", "token", "fs", location="src/settings.py:12")
    assert revoke_steps(leaked) == (
        "Remove the secret from src/settings.py:12 (and from git history if committed).",
        "Revoke it at github: it was exposed.",
    )


def test_rows_become_references_and_rotation_matches_the_provider_whatever_its_case() -> None:
    row = SimpleNamespace(
        id="aws:1:user/bot/key/K9",
        source="aws",
        provider="AWS",
        kind="access_key",
        preview="AKIA…K9",
        location="aws iam user bot",
        properties=None,
        identity_name=None,
        native_id=None,
    )
    assert rotate_steps(scheduled(row))[0] == "aws iam create-access-key --user-name bot"
    assert stored(row).properties == {} and stored(row).provider == "AWS"
    assert revoke_steps(stored(row)) == (
        "Revoke access key AKIA…K9 at AWS (aws iam user bot).",
    )  # decommission matches the provider exactly, as it always did


def test_charter_keys_are_rotated_by_enrolling_a_new_one() -> None:
    assert charter_key_steps("summarizer", "k1") == [
        "charter agent enroll summarizer --generate --out new-key.pem  # the old key overlaps",
        "Deploy new-key.pem to the agent; its next token request uses it.",
        "charter agent revoke-key summarizer k1 --reason rotated",
        "charter rotation verify ROTATION",
    ]
