"""What each source's real export turns into: the facts a person would check by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.connectors import registry
from charter.connectors.base import fingerprint
from charter.domain.enums import CredentialKind, IdentityKind
from charter.errors import InvalidInput

from .helpers import FIXTURES, normalise

TENANT = "7f3c2b1a-5d4e-4c3b-9a2f-1e0d9c8b7a65"


def test_k8s_service_accounts_tokens_bindings_and_cloud_links() -> None:
    found = normalise("k8s")
    assert {b.account for b in found.batches} == {
        "prod-eu-1",
        "ml-us-1",
    }  # the file stem names the cluster
    by = found.by_id()
    triage = by["k8s:prod-eu-1:support/serviceaccount/ticket-triage-llm"]
    assert (
        triage.ai_related
        and triage.owner == "noah.smith"
        and triage.kind is IdentityKind.SERVICE_ACCOUNT
    )
    token = by["k8s:prod-eu-1:ci/secret/ci-deployer-token"]
    assert (
        token.kind is CredentialKind.TOKEN
        and token.identity == "k8s:prod-eu-1:ci/serviceaccount/ci-deployer"
    )
    leaked = by["k8s:prod-eu-1:shop/secret/aws-legacy-creds#AWS_ACCESS_KEY_ID"]
    assert leaked.fingerprint == fingerprint("AKIA4EXAMPLELEGACY01") and leaked.provider == "aws"
    openai = by["k8s:prod-eu-1:support/secret/openai-credentials#OPENAI_API_KEY"]
    assert (
        openai.provider == "openai" and "EXAMPLE" not in openai.preview
    )  # never the secret itself
    admin = next(
        g
        for g in found.grants
        if g.subject.endswith("ci/serviceaccount/ci-deployer") and g.resource == "cluster"
    )
    assert (
        admin.properties["admin"]
        and "ClusterRoleBinding ci-deployer-admin binds ClusterRole cluster-admin" in admin.reason
    )
    irsa = by["k8s:prod-eu-1:finance/serviceaccount/finance-reconciler#irsa"]
    assert irsa.system == "aws:210987654321"
    assert irsa.properties["assumes"] == "aws:210987654321:role/finance-reconciler"
    gke = by["k8s:ml-us-1:rag/serviceaccount/vertex-rag-indexer#gke-wi"]
    assert (
        gke.properties["assumes"]
        == "gcp:acme-ml-prod:serviceaccount/vertex-rag-indexer@acme-ml-prod.iam.gserviceaccount.com"
    )


def test_gcp_accounts_user_managed_keys_bindings_activity() -> None:
    found = normalise("gcp")
    by = found.by_id()
    rag = by[
        "gcp:acme-ml-prod:serviceaccount/vertex-rag-indexer@acme-ml-prod.iam.gserviceaccount.com"
    ]
    assert rag.ai_related and "holds roles/aiplatform.user" in rag.evidence
    assert rag.owner == "lena.fischer@acme.example"  # named in the description
    assert all(
        c.properties["key_type"] == "USER_MANAGED" for c in found.credentials
    )  # Google's own skipped
    assert len(found.credentials) == 4
    legacy = next(c for c in found.credentials if "legacy-deployer" in (c.identity or ""))
    assert legacy.expires_at is None  # 9999-12-31 means never
    assert legacy.last_used_at is not None and legacy.kind is CredentialKind.PRIVATE_KEY
    owner = next(g for g in found.grants if g.permissions == ("roles/owner",))
    assert owner.properties["admin"] and "legacy-deployer" in owner.subject
    agent = by[
        "gcp:acme-ml-prod:member/service-842113970211@gcp-sa-aiplatform.iam.gserviceaccount.com"
    ]
    assert agent.properties["google_managed"] and not agent.ai_related
    conditional = next(g for g in found.grants if g.properties["condition"])
    assert "when lake bucket only" in conditional.reason


def test_entra_apps_credentials_permissions_and_sign_ins() -> None:
    found = normalise("entra")
    assert [b.account for b in found.batches] == [TENANT]
    by_name = {i.name: i for i in found.identities}
    hr = by_name["acme-hr-sync"]
    assert hr.owner == "elena.rossi@acme.example" and hr.kind is IdentityKind.SERVICE_ACCOUNT
    grant = next(g for g in found.grants if g.subject == hr.id)
    assert "Directory.ReadWrite.All" in grant.permissions and grant.properties["admin"]
    assert "acts without any signed-in user" in grant.reason
    chatgpt = by_name["OpenAI ChatGPT Enterprise"]
    assert (
        chatgpt.kind is IdentityKind.OAUTH_APP
        and chatgpt.ai_related
        and chatgpt.properties["third_party"]
    )
    consent = next(g for g in found.grants if g.subject == chatgpt.id)
    assert "for every user (admin consent)" in consent.reason
    assert by_name["mi-finance-reconciler"].kind is IdentityKind.WORKLOAD
    secrets = [c for c in found.credentials if c.kind is CredentialKind.CLIENT_SECRET]
    assert secrets and all(c.expires_at is not None for c in secrets)
    assert by_name["acme-intranet"].last_used_at is not None


def test_github_pats_installations_deploy_keys() -> None:
    found = normalise("github")
    assert [b.account for b in found.batches] == ["acme"]
    by_name = {i.name: i for i in found.identities}
    pat = by_name["gpt-pr-summarizer"]
    assert pat.ai_related and pat.owner == "jonas-berg" and pat.kind is IdentityKind.API_KEY_HOLDER
    assert (
        len([i for i in found.identities if i.properties.get("kind") == "fine-grained PAT"]) == 7
    )  # both pages
    expired = next(c for c in found.credentials if c.properties.get("expired"))
    assert expired.expires_at is not None and expired.expires_at.utcoffset().total_seconds() == 0
    devin = by_name["devin-ai-integration"]
    grant = next(g for g in found.grants if g.subject == devin.id)
    assert "workflows:write" in grant.permissions and "all repositories" in grant.reason
    writer = next(i for i in found.identities if i.name.startswith("llm-eval-runner"))
    assert writer.properties["repository"] == "acme/llm-eval" and not writer.properties["read_only"]


def test_okta_tokens_service_apps_and_scopes() -> None:
    found = normalise("okta")
    assert [b.account for b in found.batches] == ["acme.okta.com"]
    by_name = {i.name: i for i in found.identities}
    bot = by_name["ai-helpdesk-bot"]
    assert (
        bot.owner == "tom.keller@acme.example" and bot.ai_related
    )  # user id resolved through users.json
    token = next(c for c in found.credentials if c.identity == bot.id)
    assert token.last_used_at is not None and token.expires_at - token.last_used_at == __import__(
        "datetime"
    ).timedelta(days=30)
    assert "Salesforce" not in by_name  # SAML apps are not service apps
    hr = by_name["hr-sync-service"]
    scopes = next(g for g in found.grants if g.subject == hr.id)
    assert "okta.users.manage" in scopes.permissions and scopes.properties["admin"]
    key = next(c for c in found.credentials if c.kind is CredentialKind.PUBLIC_KEY)
    assert key.identity == by_name["support-summarizer-okta"].id


def test_gworkspace_replays_authorise_and_revoke_in_any_order() -> None:
    found = normalise("gworkspace")
    by_name = {i.name: i for i in found.identities}
    assert {"ChatGPT", "Claude", "Otter.ai"} <= set(by_name)
    claude = by_name["Claude"]
    assert claude.ai_related and "gmail.readonly" in claude.properties["broad_scopes"]
    grants = [g for g in found.grants if "/" + claude.native_id + "/" in g.subject]
    assert grants and all(g.subject_type == "credential" for g in grants)
    assert any("whole mailbox or drive" in g.reason for g in grants)
    activity = json.loads((FIXTURES / "gworkspace" / "token-activity.json").read_text())["items"]
    revoked = {
        (i["actor"]["email"], p["value"])
        for i in activity
        for e in i["events"]
        if e["name"] == "revoke"
        for p in e["parameters"]
        if p["name"] == "client_id"
    }
    assert revoked, "the fixture has revocations"
    standing = {(c.properties["user"], c.identity.rsplit("/", 1)[1]) for c in found.credentials}
    assert not revoked & standing


def test_slack_apps_scopes_bots_installers() -> None:
    found = normalise("slack")
    assert [b.account for b in found.batches] == ["E0ACME01"]
    by_name = {i.name: i for i in found.identities if i.kind is IdentityKind.OAUTH_APP}
    chatgpt = by_name["ChatGPT"]
    assert (
        chatgpt.ai_related and chatgpt.owner == "jonas.berg@acme.example"
    )  # installer, from the logs
    assert any("assistant:write" in e for e in chatgpt.evidence)
    grant = next(g for g in found.grants if g.subject == chatgpt.id)
    assert "channels:history" in grant.properties["sensitive"]
    bot = next(
        i for i in found.identities if i.kind is IdentityKind.BOT_USER and i.name == "ChatGPT"
    )
    assert bot.properties["links"] == {"app": chatgpt.id}
    assert not found.credentials


_SOURCES = list(registry.CONNECTORS)


@pytest.mark.parametrize("source", _SOURCES)
def test_an_export_of_the_wrong_kind_says_what_it_is(source: str) -> None:
    """Given another source's export (the next one in the registry), the error names that source."""
    other = _SOURCES[(_SOURCES.index(source) + 1) % len(_SOURCES)]
    wrong = sorted((FIXTURES / other).iterdir())[0]
    with pytest.raises(InvalidInput) as caught:
        registry.files_for(registry.get(source), [wrong])
    assert f"discover {other}" in str(caught.value) and wrong.name in str(caught.value)


def test_a_file_no_connector_knows_is_named(tmp_path: Path) -> None:
    odd = tmp_path / "notes.json"
    odd.write_text('{"hello": "world"}')
    with pytest.raises(InvalidInput, match="not an export Charter recognises"):
        registry.files_for(registry.get("k8s"), [odd])


def test_a_record_without_its_required_field_is_skipped_by_name(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "okta" / "apps.json").read_text())
    del data[0]["id"]
    (tmp_path / "apps.json").write_text(json.dumps(data))
    got = normalise("okta", tmp_path)
    (batch,) = got.batches
    assert batch.skipped.warnings() == ["apps.json: [0]: id: the record has no 'id'"]


def test_odd_dates_in_an_export_skip_the_record_by_name(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "github" / "deploy-keys.json").read_text())
    data[2]["created_at"] = "31/12/2025"
    (tmp_path / "deploy-keys.json").write_text(json.dumps(data))
    got = normalise("github", tmp_path)
    warnings = [w for b in got.batches for w in b.skipped.warnings()]
    assert len(warnings) == 1
    assert warnings[0].startswith("deploy-keys.json: [2]: created_at: ")
    assert len(got.identities) == len(data) - 1, "the other keys are ingested"
