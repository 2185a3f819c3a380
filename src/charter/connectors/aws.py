"""AWS IAM: users, roles, their keys and what their policies let them do.

Reads ``aws iam get-account-authorization-details`` (users, groups, roles with
trust policies, managed and inline policies — decoded or URL-encoded — and
``RoleLastUsed``), the credential report CSV (key age, last use, last
rotation, console passwords), and optionally ``aws iam list-access-keys``
(key ids, so a key found in a repository or a Kubernetes Secret matches its
user) and ``aws lambda list-functions`` (functions and the roles they run as).

Effective permissions come from :mod:`charter.connectors.aws_policy`. AI
workloads are recognised by trust in Bedrock or SageMaker, Lambda functions a
Bedrock-trusted role invokes (agent tools), keys whose last use was an AI
service, policies naming Bedrock actions, and names and tags.

The authorization-details file is read in passes (policies and groups first,
then principals, then their grants), each streaming, so memory stays bounded
by the number of policies and groups, not the size of the export.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path

from charter.connectors import aws_ai, aws_credentials, aws_live
from charter.connectors import aws_mapping as mapping
from charter.connectors.aws_mapping import AccountExport, AwsRaw, account_of
from charter.connectors.base import (
    Connector,
    ConnectorBase,
    ExportFile,
    ExportFormat,
    LiveSdk,
    Stream,
    json_members,
    json_records,
)
from charter.connectors.scopes import placed, scopes_of
from charter.connectors.skipping import each, flat, guard
from charter.connectors.streaming import Head, Rec, iter_csv
from charter.domain.batch import Batch, Skipped
from charter.domain.credential_steps import CredentialRef
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import InvalidInput

GAAD = ExportFormat(
    "aws.authorization-details",
    "IAM authorization details (get-account-authorization-details JSON)",
    "aws iam get-account-authorization-details --output json > authorization-details.json",
    "authorization-details.json",
    required=True,
)
REPORT = ExportFormat(
    "aws.credential-report",
    "IAM credential report (CSV)",
    "aws iam generate-credential-report && aws iam get-credential-report "
    "--query Content --output text | base64 -d > credential-report.csv",
    "credential-report.csv",
    media="csv",
)
KEYS = ExportFormat(
    "aws.access-keys",
    "IAM access key ids (list-access-keys JSON, one or more users)",
    "for u in $(aws iam list-users --query 'Users[].UserName' --output text); do "
    'aws iam list-access-keys --user-name "$u" --output json; done > access-keys.json',
    "access-keys.json",
)
FUNCTIONS = ExportFormat(
    "aws.lambda-functions",
    "Lambda functions (list-functions JSON)",
    "aws lambda list-functions --output json > lambda-functions.json",
    "lambda-functions.json",
)
REPORT_COLUMNS = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_service",
)
_GAAD_MEMBERS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
_PRINCIPALS = {"UserDetailList": "user", "RoleDetailList": "role"}
_OWNER_TAGS = ("owner", "Owner", "OWNER", "created-by", "CreatedBy", "createdBy", "contact")


class AwsConnector(ConnectorBase[AwsRaw]):
    id = "aws"
    title = "AWS IAM"
    formats = (GAAD, REPORT, KEYS, FUNCTIONS)
    needs = (
        "sts:GetCallerIdentity",
        "iam:GetAccountAuthorizationDetails",
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:ListUsers",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "lambda:ListFunctions",
        "bedrock:ListAgents",
        "bedrock:GetAgent",
        "sagemaker:ListNotebookInstances",
        "sagemaker:DescribeNotebookInstance",
        "sagemaker:ListModels",
        "sagemaker:DescribeModel",
        "sagemaker:ListEndpoints",
        "sagemaker:DescribeEndpoint",
    )

    reports_last_use = True
    providers = ("aws",)
    live_sdk = LiveSdk(
        target="an AWS profile ('default' for the default credential chain; "
        "AWS_ENDPOINT_URL is honoured)",
        docs="https://docs.aws.amazon.com/IAM/latest/APIReference/"
        "API_GetAccountAuthorizationDetails.html",
        install="pip install 'charter[aws]'",
    )

    def fetch_sdk(self, target: str) -> AwsRaw:
        return aws_live.fetch(target)

    def revoke_steps(self, credential: CredentialRef) -> tuple[str, ...] | None:
        if credential.provider not in self.providers:
            return None
        if credential.kind != "access_key":
            return None
        user = str(credential.location or "").removeprefix("aws iam user ") or "USER"
        key = credential.key_id
        return (
            f"aws iam update-access-key --user-name {user} --access-key-id {key} --status Inactive",
            f"aws iam delete-access-key --user-name {user} --access-key-id {key}",
        )

    def rotation_steps(self, credential: CredentialRef) -> list[str] | None:
        if credential.provider not in self.providers:
            return None
        if credential.kind != "access_key":
            return None
        user = (
            credential.holder
            if credential.identity_name
            else (credential.location or "USER").removeprefix("aws iam user ")
        )
        key = credential.key_id
        return [
            f"aws iam create-access-key --user-name {user}",
            "Store the new key in the secret manager the agent reads and redeploy it.",
            f"aws iam update-access-key --user-name {user} --access-key-id {key} --status Inactive",
            "Watch for errors for a day (CloudTrail, the agent's logs); "
            "reactivate only to roll back.",
            f"aws iam delete-access-key --user-name {user} --access-key-id {key}",
            "Better: replace the key with an IAM role and OIDC federation, "
            "then delete it for good.",
        ]

    def sniff(self, head: Head) -> ExportFormat | None:
        if head.kind == "csv" and head.csv_header[:3] == ("user", "arn", "user_creation_time"):
            return REPORT
        if head.kind != "json":
            return None
        if head.keys & set(_GAAD_MEMBERS) and "UserDetailList" in head.keys | {head.first_member}:
            return GAAD
        if head.first_member == "AccessKeyMetadata" or "AccessKeyMetadata" in head.keys:
            return KEYS
        if (
            head.first_member == "Functions"
            and isinstance(head.first, dict)
            and "FunctionArn" in head.first
        ):
            return FUNCTIONS
        return None

    # -- fetch: files → raw streams (I/O) -------------------------------------------------
    def fetch(self, files: Sequence[ExportFile]) -> AwsRaw:
        details: dict[str, Path] = {}
        homes: dict[str, bool] = {}  # account → the file's main account (takes unplaceable records)
        by_dir: dict[Path, str] = {}
        for file in files:
            if file.format is GAAD:
                accounts = _gaad_accounts(file.path)
                for n, account in enumerate(accounts):
                    if account in details:
                        raise InvalidInput(
                            f"two authorization-details exports for account {account}: "
                            f"{details[account]} and {file.path}",
                            field=str(file.path),
                        )
                    details[account] = file.path
                    homes[account] = n == 0
                by_dir[file.path.parent] = accounts[0]
        if not details:
            raise InvalidInput(
                f"the {self.title} export needs {GAAD.title} ({GAAD.command})", field="path"
            )
        side: dict[str, dict[str, list[Path]]] = {a: {} for a in details}
        for file in files:
            if file.format is GAAD:
                continue
            account = _side_account(file, by_dir, details)
            side[account].setdefault(file.format.id, []).append(file.path)
        exports = []
        for account, path in details.items():
            extra = side[account]
            reports = [_report_stream(p) for p in extra.get(REPORT.id, [])]
            exports.append(
                AccountExport(
                    account=account,
                    origin=tuple(
                        str(p) for p in [path, *(q for paths in extra.values() for q in paths)]
                    ),
                    # AWS-managed policies (arn:aws:iam::aws:policy/…) belong to every account
                    details=placed(
                        json_members(path, _GAAD_MEMBERS),
                        account,
                        _member_account,
                        home=homes[account],
                        everywhere=frozenset({"aws"}),
                    ),
                    report=Stream.chain(reports),
                    access_keys=Stream.chain(
                        [json_records(p, "AccessKeyMetadata") for p in extra.get(KEYS.id, [])]
                    ),
                    functions=Stream.chain(
                        [json_records(p, "Functions") for p in extra.get(FUNCTIONS.id, [])]
                    ),
                )
            )
        return AwsRaw(tuple(exports))

    # -- normalize: raw → canonical (pure) ------------------------------------------------
    def normalize(self, raw: AwsRaw) -> list[Batch]:
        return [_account(export) for export in raw.accounts]


def _account(export: AccountExport) -> Batch:
    """One account's batch; a record that cannot be read is skipped and noted, never fatal."""
    skipped = Skipped(notes=list(export.notes))
    contexts: list[mapping.Context] = []

    def context() -> mapping.Context:
        if not contexts:
            ctx = mapping.first_pass(export, skipped)
            aws_ai.learn(export.ai_workloads, ctx, skipped)
            contexts.append(ctx)
        return contexts[0]

    def principals() -> Iterator[tuple[Rec, str]]:
        for member, rec in export.details:
            if member in _PRINCIPALS:
                yield rec, _PRINCIPALS[member]

    def identities() -> Iterator[Identity]:
        ctx = context()
        seen_arns: set[str] = set()
        for rec, kind in principals():
            if kind == "user" and isinstance(rec.data, dict):
                seen_arns.add(str(rec.data.get("Arn")))
            found = guard(rec, skipped, functools.partial(mapping.principal, kind=kind, ctx=ctx))
            if found is not None:
                yield found[0]
        for arn, rec in ctx.report.items():
            if arn not in seen_arns and rec.data.get("user") == "<root_account>":
                yield from each([rec], skipped, lambda r: mapping.root(r, ctx))
        yield from each(ctx.functions, skipped, lambda r: mapping.function(r, ctx)[0])
        yield from each(ctx.ai_workloads, skipped, lambda r: aws_ai.workload(r, ctx)[0])

    def credentials() -> Iterator[Credential]:
        yield from aws_credentials.credentials(context(), skipped)

    def grants() -> Iterator[Grant]:
        ctx = context()
        for rec, kind in principals():
            found = guard(rec, skipped, functools.partial(mapping.principal, kind=kind, ctx=ctx))
            yield from found[1] if found else ()
        yield from flat(ctx.functions, skipped, lambda r: mapping.function(r, ctx)[1])
        yield from flat(ctx.ai_workloads, skipped, lambda r: aws_ai.workload(r, ctx)[1])

    account = export.account
    return Batch(
        "aws",
        account,
        systems=[System(f"aws:{account}", "aws", f"AWS account {account}")],
        identities=Stream(identities),
        credentials=Stream(credentials),
        grants=Stream(grants),
        origin=export.origin,
        skipped=skipped,
    )


def _arn_account(rec: Rec) -> str:
    data = rec.data
    if not isinstance(data, dict) or not isinstance(data.get("Arn"), str):
        return ""
    return account_of(data["Arn"])


def _member_account(item: tuple[str | None, Rec]) -> str:
    return _arn_account(item[1])


def _real_account(item: tuple[str | None, Rec]) -> str:
    account = _arn_account(item[1])
    return "" if account == "aws" else account


def _gaad_accounts(path: Path) -> list[str]:
    """The accounts an authorization-details export covers, the one with most records first."""
    return scopes_of(
        json_members(path, _GAAD_MEMBERS), _real_account, what="account (no ARN)", field=str(path)
    )


def _side_account(file: ExportFile, by_dir: dict[Path, str], details: dict[str, Path]) -> str:
    """Which account a side file belongs to: by the ARNs in it, else the one beside it."""
    if file.format is REPORT:
        for rec in iter_csv(file.path, required=REPORT_COLUMNS):
            account = account_of(str(rec.data["arn"]))
            if account in details:
                return account
            break
    if file.format is FUNCTIONS:
        for rec in json_records(file.path, "Functions"):
            account = account_of(str(rec.data.get("FunctionArn", "")))
            if account in details:
                return account
            break
    if file.path.parent in by_dir:
        return by_dir[file.path.parent]
    if len(details) == 1:
        return next(iter(details))
    raise InvalidInput(
        f"cannot tell which account {file.path.name} belongs to; put it beside its "
        "authorization-details export",
        field=str(file.path),
    )


def _report_stream(path: Path) -> Stream[Rec]:
    return Stream(lambda: iter_csv(path, required=REPORT_COLUMNS))


# -- principals ---------------------------------------------------------------------------
CONNECTOR: Connector[AwsRaw] = AwsConnector()
