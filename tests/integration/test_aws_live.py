"""``charter discover aws --live``: boto3 against moto's server, a real HTTP endpoint on loopback.

The account is seeded through the AWS API; the live read must give exactly what the
same account's exports give, never store a secret, and fail one line (exit 2,
nothing written) when the account cannot be read, or warn per API and read the
rest when only a part of it cannot.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import moto.settings
import pytest
import sqlalchemy as sa
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from tests.integration.aws_moto import ACCOUNT, REGION, client, seed
from tests.support.server import charter_env, run_cli

from charter.connectors import registry
from charter.services.context import Services
from charter.store import schema

pytestmark = pytest.mark.usefixtures("aws_env")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean account at the endpoint and an environment that reaches only it."""
    httpx.post(f"{moto_endpoint}/moto-api/reset").raise_for_status()
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n")
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_BEDROCK_AGENT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lines(stderr: str) -> list[str]:
    """What the command said, less the note a first run gives about the new store."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("note:")]


def _rows(services: Services, table: sa.Table) -> list[Any]:
    with services.db.read() as connection:
        return list(connection.execute(sa.select(table)).all())


def _export_files(endpoint: str, out: Path) -> Path:
    """The same account written as a person writes its exports with the AWS CLI."""
    iam = client("iam", endpoint)
    details: dict[str, list[Any]] = {}
    for page in iam.get_paginator("get_account_authorization_details").paginate():
        for member in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"):
            details.setdefault(member, []).extend(page.get(member) or [])
    out.mkdir()
    (out / "authorization-details.json").write_text(json.dumps(details, default=str))
    functions = client("lambda", endpoint).list_functions()["Functions"]
    (out / "lambda-functions.json").write_text(json.dumps({"Functions": functions}, default=str))
    while iam.generate_credential_report()["State"] != "COMPLETE":
        time.sleep(0.5)
    (out / "credential-report.csv").write_bytes(iam.get_credential_report()["Content"])
    keys = iam.list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"]
    (out / "access-keys.json").write_text(json.dumps({"AccessKeyMetadata": keys}, default=str))
    return out


def test_a_live_read_is_what_the_exports_give_plus_ai_workloads(
    moto_endpoint: str, tmp_path: Path
) -> None:
    seeded = seed(moto_endpoint)
    connector = registry.get("aws")
    (live,) = connector.normalize(connector.fetch_sdk("default"))
    identities = {i.id: i for i in live.identities}
    grants = list(live.grants)
    credentials = list(live.credentials)
    assert live.account == ACCOUNT
    agent = identities[f"aws:{ACCOUNT}:bedrock-agent/claims-agent"]
    assert agent.ai_related and agent.properties["role"] == seeded.agent_role_arn
    role = identities[f"aws:{ACCOUNT}:role/claims-agent-role"]
    assert "runs Bedrock agent claims-agent" in role.evidence
    model = identities[f"aws:{ACCOUNT}:sagemaker-model/claims-ranker"]
    assert model.ai_related and model.properties["links"]["runs-as"] == role.id
    assert "runs SageMaker model claims-ranker" in role.evidence
    assert identities[f"aws:{ACCOUNT}:function/claims-lookup"].properties["agent_tool"]
    deployer = identities[f"aws:{ACCOUNT}:user/ci-deployer"]
    assert deployer.properties["admin"] is True
    assert deployer.owner == "dana@example.com"
    (key,) = credentials
    assert key.properties["key_id"] == seeded.deployer_key_id
    assert seeded.deployer_secret not in repr(credentials)
    assert live.skipped.warnings() == []
    # the same account, read from the files a person exports: one code path, same records
    files = registry.files_for(connector, [_export_files(moto_endpoint, tmp_path / "export")])
    (exported,) = connector.normalize(connector.fetch(files))
    from_files = {i.id: i for i in exported.identities}
    ai_workloads = {i for i in identities if ":bedrock-agent/" in i or ":sagemaker-" in i}
    assert set(identities) - ai_workloads == set(from_files)
    for identity_id, identity in from_files.items():
        if identity_id == role.id:  # only the live read knows the Bedrock agent
            continue
        assert dataclasses.replace(identities[identity_id], last_used_at=None) == (
            dataclasses.replace(identity, last_used_at=None)
        ), identity_id
    by_id = {g.id: g for g in exported.grants}
    assert {g.id for g in grants if g.subject not in ai_workloads} == set(by_id)


def test_the_cli_ingests_live_and_never_stores_the_secret(
    moto_endpoint: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    seeded = seed(moto_endpoint)
    env = charter_env(tmp_path / "home", **aws_env)
    done = run_cli("discover", "aws", "--live", "default", "--json", env=env)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    (batch,) = document["batches"]
    assert batch["account"] == ACCOUNT
    assert batch["identities"]["created"] == 7
    assert batch["credentials"]["created"] == 1
    store = (tmp_path / "home").rglob("*.db")
    for path in store:
        assert seeded.deployer_secret.encode() not in path.read_bytes()


def test_the_table_names_each_api_that_could_not_be_read(
    moto_endpoint: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    seed(moto_endpoint)
    closed = f"http://127.0.0.1:{_closed_port()}"
    env = charter_env(tmp_path / "home", **aws_env, AWS_ENDPOINT_URL_SAGEMAKER=closed)
    done = run_cli("discover", "aws", "--live", "default", env=env)
    assert done.returncode == 0, done.stderr
    (line,) = [w for w in _lines(done.stderr) if w.startswith("warning:")]
    assert line.startswith("warning: live: AWS sagemaker:List* could not be read")
    assert "claims-agent" in done.stdout, "the Bedrock agent is still read"


def test_an_api_the_endpoint_cannot_answer_is_a_warning_and_the_rest_is_read(
    moto_endpoint: str, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT", f"http://127.0.0.1:{_closed_port()}")
    report = services.estate.ingest.ingest_live("aws", "default", actor="t")
    (result,) = report.results
    assert result.skipped == 0
    assert len(result.warnings) == 1
    assert "bedrock-agent:ListAgents" in result.warnings[0]
    ids = {row.id for row in _rows(services, schema.identities)}
    assert f"aws:{ACCOUNT}:user/ci-deployer" in ids
    assert f"aws:{ACCOUNT}:bedrock-agent/claims-agent" not in ids
    assert report.summary()["batches"][0]["warnings"] == result.warnings


def _enforce_iam(monkeypatch: pytest.MonkeyPatch, endpoint: str, *denied: str) -> dict[str, str]:
    """A reader user whose policy denies ``denied``; moto then checks every request."""
    iam = client("iam", endpoint)
    iam.create_user(UserName="auditor")
    statements: list[dict[str, Any]] = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    if denied:
        statements.append({"Effect": "Deny", "Action": list(denied), "Resource": "*"})
    iam.put_user_policy(
        UserName="auditor",
        PolicyName="read",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    creds = {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
    for name, value in creds.items():
        monkeypatch.setenv(name, value)
    return creds


def test_access_denied_on_one_optional_api_is_a_warning(
    moto_endpoint: str, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(moto_endpoint)
    _enforce_iam(monkeypatch, moto_endpoint, "lambda:ListFunctions")
    report = services.estate.ingest.ingest_live("aws", "default", actor="t")
    (result,) = report.results
    assert [w for w in result.warnings if "lambda:ListFunctions" in w], result.warnings
    assert "403" in " ".join(result.warnings) or "AccessDenied" in " ".join(result.warnings)
    ids = {row.id for row in _rows(services, schema.identities)}
    assert f"aws:{ACCOUNT}:user/auditor" in ids
    assert f"aws:{ACCOUNT}:function/claims-lookup" not in ids


def test_access_denied_on_the_account_is_one_line_and_nothing_is_written(
    moto_endpoint: str, aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(moto_endpoint)
    creds = _enforce_iam(monkeypatch, moto_endpoint, "iam:GetAccountAuthorizationDetails")
    env = charter_env(tmp_path / "home", **{**aws_env, **creds})
    done = run_cli("discover", "aws", "--live", "default", env=env)
    assert done.returncode == 2
    (line,) = _lines(done.stderr)
    assert "iam:GetAccountAuthorizationDetails" in line, done.stderr
    assert "AccessDenied" in line
    listed = run_cli("map", "--systems", "--json", env=env)
    assert json.loads(listed.stdout or "[]") == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"profile": "nosuch"}, ("no AWS profile 'nosuch'",)),
        ({"AWS_ENDPOINT_URL": "closed"}, ("sts:GetCallerIdentity", "connect")),
    ],
)
def test_an_unknown_profile_or_an_unreachable_endpoint_is_one_line_exit_2(
    aws_env: dict[str, str], tmp_path: Path, change: dict[str, str], words: tuple[str, ...]
) -> None:
    env = charter_env(tmp_path / "home", **aws_env)
    if change.get("AWS_ENDPOINT_URL") == "closed":
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{_closed_port()}"
    done = run_cli("discover", "aws", "--live", change.get("profile", "default"), env=env)
    assert done.returncode == 2, done.stdout
    lines = _lines(done.stderr)
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
