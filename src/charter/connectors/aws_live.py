"""``charter discover aws --live PROFILE``: the same records as the exports, read with boto3.

The standard credential chain finds the credentials (``default`` is the default
profile, or whatever the environment says); ``AWS_ENDPOINT_URL`` points every
client at another endpoint (botocore reads it). Everything is read before
anything is written, and answers are turned into the exports' JSON shapes (dates
as ISO text), so ingest is one code path for files and live reads.

The rule for errors: what identifies the account and its principals
(``sts:GetCallerIdentity``, ``iam:GetAccountAuthorizationDetails``) must answer, or
the command stops with one line and writes nothing. Every other API (the
credential report, access keys, Lambda, Bedrock agents, SageMaker) that refuses,
is unknown to the endpoint or is not offered in the region becomes one warning
naming the API, and the rest is ingested.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from charter.connectors.aws_mapping import AccountExport, AwsRaw
from charter.connectors.base import LiveApiError, Stream
from charter.connectors.streaming import Rec
from charter.errors import InvalidInput

_GAAD_MEMBERS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
#: How long to wait for IAM to generate the credential report.
REPORT_WAIT_SECONDS = 60.0
_REGION = "us-east-1"


def _jsonable(value: Any) -> Any:
    """An API answer as the CLI writes it: datetimes as ISO 8601 text, bytes decoded."""

    def default(obj: Any) -> Any:
        if isinstance(obj, dt.datetime):
            return obj.isoformat()
        if isinstance(obj, bytes):
            return obj.decode("utf-8", "replace")
        raise TypeError(type(obj).__name__)

    return json.loads(json.dumps(value, default=default))


class _Reader:
    """One account's live read: clients, the warnings met, and the records gathered."""

    def __init__(self, session: Any, config: Any, errors: Any) -> None:
        self.session = session
        self.config = config
        self.errors = errors
        self.region = session.region_name or _REGION
        self.notes: list[str] = []

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region, config=self.config)

    def required(self, api: str, call: Callable[[], Any]) -> Any:
        """An API the read cannot do without: any failure is one line, nothing written."""
        try:
            return call()
        except self.errors.ClientError as exc:
            error = exc.response.get("Error", {})
            raise LiveApiError(
                f"AWS {api} answered {error.get('Code', 'an error')}: {error.get('Message', '')}",
                field="live",
            ) from exc
        except self.errors.NoCredentialsError as exc:
            raise InvalidInput(
                "no AWS credentials found (the standard chain: environment, "
                "~/.aws/credentials, SSO, instance role)",
                field="live",
            ) from exc
        except self.errors.BotoCoreError as exc:
            raise LiveApiError(f"AWS {api}: {exc}", field="live") from exc

    def optional(self, api: str, call: Callable[[], list[Any]]) -> list[Any]:
        """An API the rest can proceed without: a failure is a warning naming it."""
        try:
            return call()
        except self.errors.ClientError as exc:
            error = exc.response.get("Error", {})
            said = " ".join(str(error.get(k) or "") for k in ("Code", "Message")).strip()
            self.notes.append(f"live: AWS {api} answered {said or 'an error'}; read without it")
        except self.errors.BotoCoreError as exc:
            self.notes.append(f"live: AWS {api} could not be read ({exc}); read without it")
        return []


def _pages(client: Any, operation: str, member: str, **kwargs: Any) -> list[Any]:
    out: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        out.extend(page.get(member) or [])
    return out


def _details(reader: _Reader, iam: Any) -> list[tuple[str | None, Rec]]:
    out: list[tuple[str | None, Rec]] = []
    counters = dict.fromkeys(_GAAD_MEMBERS, 0)
    paginator = iam.get_paginator("get_account_authorization_details")
    for page in paginator.paginate():
        for member in _GAAD_MEMBERS:
            for item in page.get(member) or []:
                where = f"live get-account-authorization-details: {member}[{counters[member]}]"
                counters[member] += 1
                out.append((member, Rec(where, _jsonable(item))))
    return out


def _report(reader: _Reader, iam: Any) -> list[Rec]:
    deadline = time.monotonic() + REPORT_WAIT_SECONDS
    pause = 0.25
    while iam.generate_credential_report().get("State") != "COMPLETE":
        if time.monotonic() > deadline:
            reader.notes.append(
                f"live: the credential report was not ready after {REPORT_WAIT_SECONDS:.0f} s; "
                "read without it (key ages come from list-access-keys)"
            )
            return []
        time.sleep(pause)
        pause = min(pause * 2, 4.0)
    content = iam.get_credential_report()["Content"]
    text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
    rows = csv.DictReader(io.StringIO(text))
    return [Rec(f"live credential report line {n + 2}", row) for n, row in enumerate(rows)]


def _access_keys(iam: Any, users: list[str]) -> list[Rec]:
    out: list[Rec] = []
    for user in users:
        for key in _pages(iam, "list_access_keys", "AccessKeyMetadata", UserName=user):
            last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
            record = _jsonable({**key, "AccessKeyLastUsed": last.get("AccessKeyLastUsed") or {}})
            out.append(Rec(f"live list-access-keys {user}: {key['AccessKeyId']}", record))
    return out


def _bedrock_agents(client: Any) -> list[Rec]:
    out = []
    for summary in _pages(client, "list_agents", "agentSummaries"):
        agent = client.get_agent(agentId=summary["agentId"]).get("agent") or {}
        out.append(Rec(f"live bedrock-agent get-agent {summary['agentId']}", _jsonable(agent)))
    return out


def _sagemaker(client: Any) -> list[Rec]:
    out = []
    for listed, member, describe, key in (
        (
            "list_notebook_instances",
            "NotebookInstances",
            "describe_notebook_instance",
            "NotebookInstanceName",
        ),
        ("list_models", "Models", "describe_model", "ModelName"),
        ("list_endpoints", "Endpoints", "describe_endpoint", "EndpointName"),
    ):
        for item in _pages(client, listed, member):
            answer = getattr(client, describe)(**{key: item[key]})
            answer.pop("ResponseMetadata", None)
            out.append(Rec(f"live sagemaker {describe} {item[key]}", _jsonable(answer)))
    return out


def _records(items: list[Any], where: str) -> Iterator[Rec]:
    for n, item in enumerate(items):
        yield Rec(f"{where}[{n}]", _jsonable(item))


def fetch(target: str) -> AwsRaw:
    """Read one account through the standard credential chain; see the module docstring."""
    try:
        import boto3  # optional: only --live needs it
        import botocore.config
        import botocore.exceptions as errors
    except ImportError as exc:
        raise InvalidInput(
            "reading AWS live needs boto3: pip install 'charter[aws]'", field="live"
        ) from exc
    if not target.strip():
        raise InvalidInput("give an AWS profile name ('default' for the default)", field="live")
    try:
        session = boto3.Session(profile_name=None if target == "default" else target)
    except errors.ProfileNotFound as exc:
        raise InvalidInput(f"no AWS profile {target!r} ({exc})", field="live") from exc
    config = botocore.config.Config(
        connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}
    )
    reader = _Reader(session, config, errors)
    sts = reader.required("sts client", lambda: reader.client("sts"))
    account = str(
        reader.required("sts:GetCallerIdentity", lambda: sts.get_caller_identity())["Account"]
    )
    iam = reader.client("iam")
    details = reader.required("iam:GetAccountAuthorizationDetails", lambda: _details(reader, iam))
    users = [
        str(rec.data["UserName"])
        for member, rec in details
        if member == "UserDetailList" and isinstance(rec.data, dict) and rec.data.get("UserName")
    ]
    report = reader.optional("iam:GetCredentialReport", lambda: _report(reader, iam))
    keys = reader.optional("iam:ListAccessKeys", lambda: _access_keys(iam, users))
    functions = reader.optional(
        "lambda:ListFunctions",
        lambda: list(
            _records(
                _pages(reader.client("lambda"), "list_functions", "Functions"),
                "live list-functions: Functions",
            )
        ),
    )
    agents = reader.optional(
        "bedrock-agent:ListAgents", lambda: _bedrock_agents(reader.client("bedrock-agent"))
    )
    sagemaker = reader.optional("sagemaker:List*", lambda: _sagemaker(reader.client("sagemaker")))
    export = AccountExport(
        account=account,
        origin=(f"live: AWS profile {target}, account {account}",),
        details=Stream.of(details),
        report=Stream.of(report),
        access_keys=Stream.of(keys),
        functions=Stream.of(functions),
        ai_workloads=Stream.of([*agents, *sagemaker]),
        notes=tuple(reader.notes),
    )
    return AwsRaw((export,))
