"""AWS: policies (decoded and URL-encoded), wildcard expansion, effective permissions,
AI signals.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from charter.connectors import registry
from charter.connectors.aws_policy import (
    ActionCatalog,
    AttachedPolicy,
    effective_access,
    load_document,
    trust_principals,
)
from charter.connectors.base import fingerprint
from charter.errors import InvalidInput

from .helpers import FIXTURES, normalise

ACCOUNT = "123456789012"


def test_wildcards_expand_against_catalogue_and_named_actions() -> None:
    catalog = ActionCatalog(["textract:AnalyzeExpense"])
    assert {"s3:GetObject", "s3:GetBucketPolicy"} <= catalog.expand("s3:Get*")
    assert "s3:PutObject" not in catalog.expand("s3:Get*")
    assert "textract:AnalyzeExpense" in catalog.expand("textract:*")  # named in the export
    assert catalog.expand("unknownsvc:*") == frozenset({"unknownsvc:*"})  # kept, never dropped
    assert catalog.expand("S3:getobject") == frozenset({"s3:GetObject"})  # IAM is case-insensitive
    assert len(catalog.expand("*")) == catalog.size


def test_effective_access_subtracts_denies_and_applies_the_boundary() -> None:
    catalog = ActionCatalog()
    policies = [
        AttachedPolicy(
            "rw",
            "inline",
            {
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:*", "dynamodb:Query"], "Resource": "*"}
                ]
            },
        ),
        AttachedPolicy(
            "no-delete",
            "managed",
            {"Statement": {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}},
            via="group devs",
        ),
    ]
    boundary = {"Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]}
    (access,) = effective_access(policies, catalog, boundary=boundary, where="t")
    assert "s3:GetObject" in access.actions
    assert not any(a.startswith("s3:Delete") for a in access.actions)
    assert "dynamodb:Query" not in access.actions  # outside the boundary
    assert access.via == [
        "inline policy rw",
        "limited by its permissions boundary",
        f"minus {len(catalog.expand('s3:Delete*'))} action(s) denied by managed policy no-delete "
        "(via group devs)",
    ]


def test_conditional_deny_does_not_remove_access() -> None:
    policies = [
        AttachedPolicy(
            "a",
            "inline",
            {
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Action": "s3:GetObject",
                        "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ]
            },
        ),
    ]
    (access,) = effective_access(policies, ActionCatalog(), where="t")
    assert access.actions == {"s3:GetObject"}


def test_url_encoded_documents_and_trust_principals() -> None:
    encoded = (
        "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C"
        "%22Principal%22%3A%7B%22Service%22%3A%22bedrock.amazonaws.com%22%7D%7D%5D%7D"
    )
    document = load_document(encoded, where="w")
    assert trust_principals(document, where="w") == ["bedrock.amazonaws.com"]
    with pytest.raises(InvalidInput, match="neither JSON nor URL-encoded"):
        load_document("%7Bbroken", where="role x")


def test_fixture_identities_permissions_and_ai_evidence() -> None:
    found = normalise("aws")
    by = found.by_id()
    agent_role = by[f"aws:{ACCOUNT}:role/service-role/ClaimsTriageAgentRole"]
    assert agent_role.ai_related and "trusted by bedrock.amazonaws.com" in agent_role.evidence
    assert agent_role.last_used_at.isoformat() == "2026-10-30T17:04:11+00:00"
    tool = by[f"aws:{ACCOUNT}:function/claims-lookup"]
    assert tool.properties["agent_tool"] and tool.properties["links"] == {
        "agent-tool-of": agent_role.id
    }
    exec_role = by[f"aws:{ACCOUNT}:role/claims-lookup-exec"]
    assert exec_role.properties["links"] == {"agent-tool-of": agent_role.id}
    batch_user = by[f"aws:{ACCOUNT}:user/gpt-batch"]
    assert (
        batch_user.properties["admin"] is True and batch_user.properties["console_access"] is True
    )
    assert any("last used with bedrock" in e for e in batch_user.evidence)
    deployer = by[f"aws:{ACCOUNT}:user/ci-deployer"]
    assert deployer.owner == "jonas.berg@acme.example" and not deployer.ai_related
    grants = [g for g in found.grants if g.subject == deployer.id]
    claims = next(g for g in grants if g.resource == "arn:aws:s3:::acme-claims/*")
    assert "via group developers" in claims.reason and "s3:GetObject" in claims.permissions
    assert not [g for g in grants if any(p.startswith("logs:") for p in g.permissions)], "deny wins"
    trust = by[
        f"aws:{ACCOUNT}:role/deploy#trust/"
        + next(g.id.split("#trust/")[1] for g in found.grants if "#trust/" in g.id)
    ]
    assert (
        trust.subject == deployer.id and trust.properties["assumes"] == f"aws:{ACCOUNT}:role/deploy"
    )
    assert not [g for g in found.grants if g.subject == f"aws:{ACCOUNT}:role/deploy"], (
        "boundary ∩ nothing = nothing"
    )


def test_credential_report_and_key_ids_join() -> None:
    found = normalise("aws")
    key = found.by_id()[f"aws:{ACCOUNT}:access-key/AKIAQ3EXAMPLE7CIDEPL"]
    assert key.fingerprint == fingerprint(
        "AKIAQ3EXAMPLE7CIDEPL"
    )  # what the scanner stores for a key id
    assert key.preview == "AKIA…DEPL" and key.identity == f"aws:{ACCOUNT}:user/ci-deployer"
    assert key.properties["last_used_service"] == "s3"
    assert key.last_used_at.isoformat() == "2026-10-31T22:01:00+00:00"
    slots = sorted(
        c.properties["slot"]
        for c in found.credentials
        if c.identity == f"aws:{ACCOUNT}:user/gpt-batch"
    )
    assert slots == [1, 2]
    root = found.by_id()[f"aws:{ACCOUNT}:root"]
    assert root.properties["root"] and root.properties["mfa_active"]


def test_without_key_ids_credentials_fall_back_to_report_slots(tmp_path: Path) -> None:
    for name in ("authorization-details.json", "credential-report.csv"):
        shutil.copy(FIXTURES / "aws" / name, tmp_path / name)
    found = normalise("aws", tmp_path)
    ids = sorted(c.id for c in found.credentials)
    assert f"aws:{ACCOUNT}:access-key/ci-deployer#1" in ids
    assert all(c.properties["key_id"] is None for c in found.credentials)


def test_authorization_details_are_required(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "aws" / "credential-report.csv", tmp_path / "credential-report.csv")
    with pytest.raises(InvalidInput, match="needs IAM authorization details"):
        normalise("aws", tmp_path)


def test_report_with_missing_columns_names_the_file(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "aws" / "authorization-details.json", tmp_path / "auth.json")
    lines = (FIXTURES / "aws" / "credential-report.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, h in enumerate(header) if h != "mfa_active"]
    (tmp_path / "report.csv").write_text(
        "\n".join(",".join(row.split(",")[i] for i in keep) for row in lines) + "\n"
    )
    with pytest.raises(InvalidInput, match="mfa_active") as caught:
        normalise("aws", tmp_path)
    assert "report.csv" in str(caught.value)


def test_truncated_authorization_details_name_the_record(tmp_path: Path) -> None:
    text = (FIXTURES / "aws" / "authorization-details.json").read_text()
    (tmp_path / "authorization-details.json").write_text(
        text[: text.index('"RoleName": "claims-lookup-exec"')]
    )
    connector = registry.get("aws")
    with pytest.raises(InvalidInput) as caught:
        connector.normalize(connector.fetch(registry.files_for(connector, [tmp_path])))[
            0
        ].identities.__iter__().__next__()
    assert "authorization-details.json: RoleDetailList[1]" in str(caught.value)
    assert "truncated" in str(caught.value)


def test_a_policy_with_a_bad_effect_skips_its_user_by_name(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "aws" / "authorization-details.json").read_text())
    data["UserDetailList"][0]["UserPolicyList"][0]["PolicyDocument"]["Statement"][0]["Effect"] = (
        "Maybe"
    )
    (tmp_path / "authorization-details.json").write_text(json.dumps(data))
    got = normalise("aws", tmp_path)
    (batch,) = got.batches
    assert batch.skipped.count == 1
    (warning,) = batch.skipped.warnings()
    assert warning.startswith("authorization-details.json: UserDetailList[0]") or (
        "UserDetailList[0]" in warning
    )
    assert "Effect 'Maybe'" in warning
    names = {i.name for i in got.identities}
    assert data["UserDetailList"][0]["UserName"] not in names
    assert data["UserDetailList"][1]["UserName"] in names  # the rest is ingested
