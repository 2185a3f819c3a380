"""Write examples/estate/: Acme's exports from every source Charter reads (deterministic).

    python examples/estate/generate.py

Acme (acme.example) is fictional; every id, key id and token here is made up
(secret-shaped values contain EXAMPLE and are valid nowhere). The stories the
estate tells are listed in README.md next to this file.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import random
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent
RNG = random.Random(20261128)
UTC = dt.UTC
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # the exports were taken a week before the demo
PROD, DATA = "210987654321", "345678901234"
TENANT = "7f3c2b1a-5d4e-4c3b-9a2f-1e0d9c8b7a65"
ORG = "acme"
OKTA = "acme.okta.com"
GCP = "acme-ml-prod"
CUSTOMER = "C03acme01"
SLACK = "E0ACME01"
LEAKED_AWS_KEY = "AKIAFAKEDEMOOMDAO2FM"  # also in examples/workstation/scripts/backup.sh
K8S_AWS_KEY = "AKIA4EXAMPLELEGACY01"
OPENAI_IN_K8S = "sk-proj-EXAMPLEk8sLeakedKeyDoNotUse0000000000000000"


def at(days_ago: float, hour: int = 10) -> dt.datetime:
    return (NOW - dt.timedelta(days=days_ago)).replace(hour=hour, minute=RNG.randrange(60), second=RNG.randrange(60), microsecond=0)


def iso(moment: dt.datetime | None, style: str = "aws") -> str:
    if moment is None:
        return "N/A"
    if style == "aws":
        return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    if style == "z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "ms":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if style == "github":  # GitHub writes local offsets with milliseconds
        return (moment - dt.timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S.000-07:00")
    raise ValueError(style)


def ident(prefix: str, n: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") -> str:
    return prefix + "".join(RNG.choice(alphabet) for _ in range(n))


def write(path: str, data: Any) -> None:
    target = OUT / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: Any, resources: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def trust(principal: dict[str, Any], action: str = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return doc({"Effect": "Allow", "Principal": principal, "Action": action, **extra})


# -- AWS ------------------------------------------------------------------------------------------
MANAGED = {
    "AdministratorAccess": doc(allow("*")),
    "ReadOnlyAccess": doc(allow(["s3:Get*", "s3:List*", "dynamodb:Describe*", "ec2:Describe*", "logs:Get*", "iam:Get*", "iam:List*"])),
    "AmazonS3FullAccess": doc(allow("s3:*")),
    "AmazonBedrockFullAccess": doc(allow("bedrock:*")),
    "AmazonSageMakerFullAccess": doc(allow(["sagemaker:*", "s3:GetObject", "s3:PutObject", "ecr:GetAuthorizationToken"])),
    "AWSLambdaBasicExecutionRole": doc(allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"])),
    "SecretsManagerReadWrite": doc(allow("secretsmanager:*"), allow(["kms:Decrypt", "kms:DescribeKey"])),
}
AWS_POLICY_ARN = {name: f"arn:aws:iam::aws:policy/{name}" for name in MANAGED}


def managed_policy(account: str, name: str, document: dict[str, Any], created: dt.datetime) -> dict[str, Any]:
    arn = f"arn:aws:iam::{account}:policy/{name}"
    return {
        "PolicyName": name, "PolicyId": ident("ANPA", 17), "Arn": arn, "Path": "/", "DefaultVersionId": "v1",
        "AttachmentCount": 1, "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
        "CreateDate": iso(created), "UpdateDate": iso(created),
        "PolicyVersionList": [{"Document": urllib.parse.quote(json.dumps(document)), "VersionId": "v1",
                               "IsDefaultVersion": True, "CreateDate": iso(created)}],
    }


def aws_account(account: str, roles: list[dict[str, Any]], users: list[dict[str, Any]], local: dict[str, dict[str, Any]],
                groups: list[dict[str, Any]]) -> None:
    policies = [managed_policy(account, name, d, at(500)) for name, d in local.items()]
    for name, document in MANAGED.items():
        policies.append({
            "PolicyName": name, "PolicyId": ident("ANPA", 17), "Arn": AWS_POLICY_ARN[name], "Path": "/",
            "DefaultVersionId": "v1", "AttachmentCount": 1, "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
            "CreateDate": "2015-02-06T18:39:46+00:00", "UpdateDate": "2015-02-06T18:39:46+00:00",
            "PolicyVersionList": [{"Document": document, "VersionId": "v1", "IsDefaultVersion": True,
                                   "CreateDate": "2015-02-06T18:39:46+00:00"}],
        })

    def attached(names: list[str]) -> list[dict[str, str]]:
        return [{"PolicyName": n, "PolicyArn": AWS_POLICY_ARN.get(n, f"arn:aws:iam::{account}:policy/{n}")} for n in names]

    role_list = []
    for r in roles:
        path = r.get("path", "/")
        role_list.append({
            "Path": path, "RoleName": r["name"], "RoleId": ident("AROA", 17), "Arn": f"arn:aws:iam::{account}:role{path}{r['name']}",
            "CreateDate": iso(r["created"]), "AssumeRolePolicyDocument": urllib.parse.quote(json.dumps(r["trust"])),
            "InstanceProfileList": [], "RolePolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in r.get("inline", {}).items()],
            "AttachedManagedPolicies": attached(r.get("managed", [])),
            "Tags": [{"Key": k, "Value": v} for k, v in r.get("tags", {}).items()],
            "RoleLastUsed": {"LastUsedDate": iso(r["used"]), "Region": "eu-central-1"} if r.get("used") else {},
        })
    user_list = []
    for u in users:
        user_list.append({
            "Path": "/", "UserName": u["name"], "UserId": ident("AIDA", 17), "Arn": f"arn:aws:iam::{account}:user/{u['name']}",
            "CreateDate": iso(u["created"]), "UserPolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in u.get("inline", {}).items()],
            "GroupList": u.get("groups", []), "AttachedManagedPolicies": attached(u.get("managed", [])),
            "Tags": [{"Key": k, "Value": v} for k, v in u.get("tags", {}).items()],
        })
    group_list = [{
        "Path": "/", "GroupName": g["name"], "GroupId": ident("AGPA", 17), "Arn": f"arn:aws:iam::{account}:group/{g['name']}",
        "CreateDate": iso(at(900)), "GroupPolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in g.get("inline", {}).items()],
        "AttachedManagedPolicies": attached(g.get("managed", [])),
    } for g in groups]
    name = "prod" if account == PROD else "data"
    write(f"aws/{name}/authorization-details.json", {"UserDetailList": user_list, "GroupDetailList": group_list,
                                                     "RoleDetailList": role_list, "Policies": policies, "IsTruncated": False})
    # credential report (CSV, as AWS writes it)
    header = ["user", "arn", "user_creation_time", "password_enabled", "password_last_used", "password_last_changed",
              "password_next_rotation", "mfa_active", "access_key_1_active", "access_key_1_last_rotated",
              "access_key_1_last_used_date", "access_key_1_last_used_region", "access_key_1_last_used_service",
              "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
              "access_key_2_last_used_region", "access_key_2_last_used_service", "cert_1_active", "cert_1_last_rotated",
              "cert_2_active", "cert_2_last_rotated"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerow(["<root_account>", f"arn:aws:iam::{account}:root", iso(at(1500)), "not_supported", iso(at(200)),
                     "not_supported", "not_supported", "true", "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A",
                     "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"])
    keys = []
    for u in users:
        row = [u["name"], f"arn:aws:iam::{account}:user/{u['name']}", iso(u["created"]),
               "true" if u.get("console") else "false", iso(u.get("console_used")) if u.get("console") else "N/A",
               iso(u["created"]) if u.get("console") else "N/A", "N/A", "true" if u.get("mfa") else "false"]
        for slot in (0, 1):
            key = u["keys"][slot] if slot < len(u.get("keys", [])) else None
            if key is None:
                row += ["false", "N/A", "N/A", "N/A", "N/A"]
                continue
            used = key.get("used")
            row += ["true" if key.get("active", True) else "false", iso(key["created"]), iso(used) if used else "N/A",
                    "eu-central-1" if used else "N/A", key.get("service", "s3") if used else "N/A"]
            keys.append({"UserName": u["name"], "AccessKeyId": key["id"], "Status": "Active" if key.get("active", True) else "Inactive",
                         "CreateDate": iso(key["created"])})
        row += ["false", "N/A", "false", "N/A"]
        writer.writerow(row)
    (OUT / f"aws/{name}/credential-report.csv").write_text(buffer.getvalue(), encoding="utf-8")
    per_user: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        per_user.setdefault(key["UserName"], []).append(key)
    text = "\n".join(json.dumps({"AccessKeyMetadata": v}, indent=4) for v in per_user.values())  # one call per user
    (OUT / f"aws/{name}/access-keys.json").write_text(text + "\n", encoding="utf-8")


def aws() -> None:
    oidc = f"arn:aws:iam::{PROD}:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLED4F1C3A5B7E9"
    roles: list[dict[str, Any]] = [
        {"name": "finance-reconciler", "created": at(400), "used": at(0.5),
         "trust": trust({"Federated": oidc}, "sts:AssumeRoleWithWebIdentity"),
         "inline": {"ledger-exports": doc(allow(["s3:GetObject", "s3:ListBucket"], ["arn:aws:s3:::acme-ledger-exports", "arn:aws:s3:::acme-ledger-exports/*"]),
                                          allow("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:eu-central-1:{PROD}:secret:stripe/reconciler-*"))},
         "tags": {"team": "finance", "owner": "priya.nair@acme.example"}},
        {"name": "AmazonBedrockExecutionRoleForAgents_SupportBot", "path": "/service-role/", "created": at(160), "used": at(0.2),
         "trust": trust({"Service": "bedrock.amazonaws.com"}),
         "inline": {"agent-tools": doc(allow("bedrock:InvokeModel", "arn:aws:bedrock:eu-central-1::foundation-model/anthropic.*"),
                                       allow("lambda:InvokeFunction", f"arn:aws:lambda:eu-central-1:{PROD}:function:order-status-lookup"),
                                       allow("lambda:InvokeFunction", f"arn:aws:lambda:eu-central-1:{PROD}:function:refund-request"))},
         "managed": ["AmazonS3FullAccess"], "tags": {"project": "support-bot"}},
        {"name": "order-status-lookup-exec", "created": at(160), "used": at(0.2), "trust": trust({"Service": "lambda.amazonaws.com"}),
         "inline": {"orders-read": doc(allow(["dynamodb:GetItem", "dynamodb:Query"], f"arn:aws:dynamodb:eu-central-1:{PROD}:table/orders"))},
         "managed": ["AWSLambdaBasicExecutionRole"]},
        {"name": "refund-request-exec", "created": at(150), "used": at(2), "trust": trust({"Service": "lambda.amazonaws.com"}),
         "inline": {"payments": doc(allow(["dynamodb:PutItem", "dynamodb:UpdateItem"], f"arn:aws:dynamodb:eu-central-1:{PROD}:table/refunds"),
                                    allow("sqs:SendMessage", f"arn:aws:sqs:eu-central-1:{PROD}:payments-refunds"))},
         "managed": ["AWSLambdaBasicExecutionRole"]},
        {"name": "summarize-tickets-exec", "created": at(300), "used": at(1), "trust": trust({"Service": "lambda.amazonaws.com"}),
         "managed": ["AWSLambdaBasicExecutionRole", "SecretsManagerReadWrite"]},
        {"name": "OrganizationAccountAccessRole", "created": at(1500), "used": at(40),
         "trust": trust({"AWS": "arn:aws:iam::111100001111:root"}), "managed": ["AdministratorAccess"]},
        {"name": "deploy", "created": at(800), "used": at(0.1),
         "trust": trust({"AWS": f"arn:aws:iam::{PROD}:user/github-actions-deploy"}), "managed": ["AdministratorAccess"],
         "tags": {"owner": "ada.osei@acme.example"}},
        {"name": "datadog-integration", "created": at(700), "used": at(0.1),
         "trust": trust({"AWS": "arn:aws:iam::464622532012:root"}, Condition={"StringEquals": {"sts:ExternalId": "EXAMPLE-dd"}}),
         "managed": ["ReadOnlyAccess"]},
        {"name": "AWSServiceRoleForAmazonEKS", "path": "/aws-service-role/eks.amazonaws.com/", "created": at(900), "used": at(0.1),
         "trust": trust({"Service": "eks.amazonaws.com"})},
        {"name": "AWSServiceRoleForSupport", "path": "/aws-service-role/support.amazonaws.com/", "created": at(1500),
         "trust": trust({"Service": "support.amazonaws.com"})},
    ]
    apps = ["orders-api", "payments-worker", "checkout-web", "inventory-sync", "email-sender", "search-indexer",
            "pricing-engine", "fraud-scoring", "shipping-labels", "loyalty-points", "catalog-import", "returns-portal",
            "invoice-pdf", "notifications", "audit-export", "session-store", "image-resizer", "geo-lookup"]
    for n, app in enumerate(apps):
        used = at(RNG.choice([0.1, 0.5, 1, 3, 12])) if n % 7 else at(240 + n)  # a few roles nobody used for months
        roles.append({"name": f"{app}-task", "created": at(600 - n * 11), "used": used,
                      "trust": trust({"Service": "ecs-tasks.amazonaws.com"}),
                      "inline": {f"{app}-data": doc(allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], f"arn:aws:dynamodb:eu-central-1:{PROD}:table/{app}"),
                                                    allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::acme-{app}/*"))},
                      "tags": {"team": RNG.choice(["commerce", "platform", "growth"]), "service": app}})
    roles.append({"name": "email-sender-task-old", "created": at(700), "used": None, "trust": trust({"Service": "ecs-tasks.amazonaws.com"}),
                  "managed": ["AmazonS3FullAccess"]})
    users = [
        {"name": "github-actions-deploy", "created": at(820), "managed": ["AdministratorAccess"],
         "keys": [{"id": "AKIA4EXAMPLEGHADEPL1", "created": at(820), "used": at(0.1), "service": "sts"}], "tags": {"owner": "ada.osei@acme.example"}},
        {"name": "support-backup", "created": at(420), "inline": {"backups": doc(allow("s3:*", ["arn:aws:s3:::acme-support-backups", "arn:aws:s3:::acme-support-backups/*"]))},
         "keys": [{"id": LEAKED_AWS_KEY, "created": at(420), "used": at(1), "service": "s3"}], "tags": {"owner": "noah.smith@acme.example"}},
        {"name": "openai-proxy", "created": at(380), "managed": ["AmazonBedrockFullAccess"],
         "keys": [{"id": "AKIA4EXAMPLEOAIPRXY1", "created": at(380), "used": at(0.3), "service": "bedrock"}], "tags": {"owner": "tom.keller@acme.example"}},
        {"name": "legacy-batch", "created": at(1100), "managed": ["AmazonS3FullAccess"],
         "keys": [{"id": K8S_AWS_KEY, "created": at(1100), "used": at(300), "service": "s3"}]},
        {"name": "terraform", "created": at(900), "managed": ["AdministratorAccess"], "tags": {"owner": "elena.rossi@acme.example"},
         "keys": [{"id": "AKIA4EXAMPLETERRAF01", "created": at(95), "used": at(0.2), "service": "iam"},
                  {"id": "AKIA4EXAMPLETERRAF02", "created": at(460), "used": at(200), "service": "s3"}]},
        {"name": "ada.osei", "created": at(1400), "console": True, "console_used": at(0.5), "mfa": True, "groups": ["admins"]},
        {"name": "jonas.berg", "created": at(1000), "console": True, "console_used": at(3), "mfa": True, "groups": ["developers"]},
        {"name": "tom.keller", "created": at(950), "console": True, "console_used": at(260), "mfa": False, "groups": ["developers"],
         "keys": [{"id": "AKIA4EXAMPLETKELLER1", "created": at(600), "used": at(255), "service": "bedrock"}]},
        {"name": "reports-readonly", "created": at(500), "managed": ["ReadOnlyAccess"],
         "keys": [{"id": "AKIA4EXAMPLEREPORTS1", "created": at(500), "used": None}]},
    ]
    groups = [{"name": "admins", "managed": ["AdministratorAccess"]},
              {"name": "developers", "managed": ["ReadOnlyAccess"], "inline": {"no-secrets": doc({"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})}}]
    aws_account(PROD, roles, users, {}, groups)
    (OUT / "aws/prod/lambda-functions.json").write_text(json.dumps({"Functions": [
        lambda_fn(PROD, "order-status-lookup", "order-status-lookup-exec", "Returns an order's status (Bedrock agent action group)", {"ORDERS_TABLE": "orders"}),
        lambda_fn(PROD, "refund-request", "refund-request-exec", "Files a refund request for a support agent", {"QUEUE_URL": "payments-refunds"}),
        lambda_fn(PROD, "summarize-tickets", "summarize-tickets-exec", "Nightly ticket summaries", {"OPENAI_API_KEY_SECRET": "openai/prod", "ZENDESK_SUBDOMAIN": "acme"}),
        lambda_fn(PROD, "image-thumbnails", "image-resizer-task", "Thumbnails for the catalogue", {"BUCKET": "acme-images"}),
    ]}, indent=2) + "\n", encoding="utf-8")
    data_roles = [
        {"name": "SageMakerExecutionRole-forecasting", "created": at(330), "used": at(2), "trust": trust({"Service": "sagemaker.amazonaws.com"}),
         "managed": ["AmazonSageMakerFullAccess", "AmazonS3FullAccess"], "tags": {"team": "data-science", "owner": "raj.patel@acme.example"}},
        {"name": "bedrock-kb-ingest", "created": at(120), "used": at(1), "trust": trust({"Service": "bedrock.amazonaws.com"}),
         "inline": {"kb": doc(allow(["s3:GetObject", "s3:ListBucket"], ["arn:aws:s3:::acme-kb-docs", "arn:aws:s3:::acme-kb-docs/*"]),
                              allow("bedrock:InvokeModel", "arn:aws:bedrock:eu-central-1::foundation-model/amazon.titan-embed-*"))},
         "tags": {"owner": "lena.fischer@acme.example"}},
        {"name": "glue-etl", "created": at(700), "used": at(0.3), "trust": trust({"Service": "glue.amazonaws.com"}),
         "inline": {"etl": doc(allow(["glue:*", "s3:*"], "*"))}},
        {"name": "analytics-readonly", "created": at(650), "used": at(5), "trust": trust({"AWS": f"arn:aws:iam::{PROD}:role/deploy"}),
         "managed": ["ReadOnlyAccess"]},
    ]
    for n, job in enumerate(["churn-model", "demand-forecast", "price-elasticity", "ltv-score", "clickstream-etl", "ab-results"]):
        data_roles.append({"name": f"{job}-job", "created": at(500 - n * 30), "used": at(n * 20 + 1), "trust": trust({"Service": "glue.amazonaws.com"}),
                           "inline": {"data": doc(allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::acme-lake/{job}/*"),
                                                  allow(["athena:StartQueryExecution", "athena:GetQueryResults"]))}})
    data_users = [
        {"name": "notebook-raj", "created": at(300), "managed": ["AmazonSageMakerFullAccess"], "tags": {"owner": "raj.patel@acme.example"},
         "keys": [{"id": "AKIA5EXAMPLENOTEBK01", "created": at(300), "used": at(4), "service": "sagemaker"}]},
        {"name": "llm-eval", "created": at(200), "managed": ["AmazonBedrockFullAccess"],
         "keys": [{"id": "AKIA5EXAMPLELLMEVAL1", "created": at(200), "used": at(130), "service": "bedrock"}]},
    ]
    aws_account(DATA, data_roles, data_users, {}, [])


def lambda_fn(account: str, name: str, role: str, description: str, env: dict[str, str]) -> dict[str, Any]:
    return {"FunctionName": name, "FunctionArn": f"arn:aws:lambda:eu-central-1:{account}:function:{name}", "Runtime": "python3.12",
            "Role": f"arn:aws:iam::{account}:role/{role}", "Handler": "app.handler", "CodeSize": RNG.randrange(4000, 90000),
            "Description": description, "Timeout": 30, "MemorySize": 256, "LastModified": iso(at(RNG.randrange(5, 120)), "ms").replace("Z", "+0000"),
            "CodeSha256": base64.b64encode(RNG.randbytes(32)).decode(), "Version": "$LATEST",
            "Environment": {"Variables": env}, "TracingConfig": {"Mode": "PassThrough"}, "PackageType": "Zip", "Architectures": ["arm64"]}


# -- Kubernetes -----------------------------------------------------------------------------------
def k8s_meta(name: str, namespace: str | None, created: dt.datetime, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "uid": str(uuid.UUID(int=RNG.getrandbits(128))), "resourceVersion": str(RNG.randrange(10**6, 10**8)),
            "creationTimestamp": iso(created, "z"), **extra}
    if namespace:
        meta["namespace"] = namespace
    return meta


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def k8s() -> None:
    items: list[dict[str, Any]] = []
    sas = [("finance", "finance-reconciler", {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{PROD}:role/finance-reconciler"}, {"app.kubernetes.io/name": "finance-reconciler"}),
           ("support", "support-summarizer", {}, {"app.kubernetes.io/name": "support-summarizer", "charter.dev/agent": "support-summarizer"}),
           ("support", "ticket-triage-llm", {}, {"app.kubernetes.io/name": "ticket-triage", "owner": "noah.smith"}),
           ("ci", "ci-deployer", {}, {"app.kubernetes.io/name": "ci"}),
           ("kube-system", "aws-load-balancer-controller", {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{PROD}:role/deploy"}, {}),
           ("monitoring", "datadog-agent", {}, {"app.kubernetes.io/name": "datadog"})]
    for app in ["orders-api", "payments-worker", "checkout-web", "inventory-sync", "search-indexer", "pricing-engine", "returns-portal", "notifications"]:
        sas.append(("shop", app, {}, {"app.kubernetes.io/name": app, "team": "commerce"}))
    for ns in ["default", "finance", "support", "ci", "shop", "monitoring"]:
        sas.append((ns, "default", {}, {}))
    for ns, name, annotations, labels in sas:
        items.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": k8s_meta(name, ns, at(RNG.randrange(100, 700)), annotations=annotations, labels=labels)})
    items.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                  "metadata": k8s_meta("ci-deployer-token", "ci", at(640), annotations={"kubernetes.io/service-account.name": "ci-deployer"}),
                  "data": {"token": b64("eyJhbGciOiJSUzI1NiJ9.EXAMPLE-ci-deployer-token." + "x" * 40), "namespace": b64("ci"), "ca.crt": b64("-----BEGIN CERTIFICATE-----EXAMPLE")}})
    items.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": k8s_meta("openai-credentials", "support", at(210)),
                  "data": {"OPENAI_API_KEY": b64(OPENAI_IN_K8S), "MODEL": b64("gpt-4o")}})
    items.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": k8s_meta("aws-legacy-creds", "shop", at(900)),
                  "data": {"AWS_ACCESS_KEY_ID": b64(K8S_AWS_KEY), "AWS_REGION": b64("eu-central-1")}})
    items.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": k8s_meta("shop-tls", "shop", at(30)),
                  "data": {"tls.crt": b64("EXAMPLE"), "tls.key": b64("EXAMPLE")}})
    items.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": k8s_meta("cluster-admin", None, at(900)),
                  "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]})
    items.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": k8s_meta("view", None, at(900)),
                  "rules": [{"apiGroups": [""], "resources": ["pods", "services", "configmaps"], "verbs": ["get", "list", "watch"]}]})
    items.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": k8s_meta("secret-reader", "support", at(200)),
                  "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]})
    bindings = [("ClusterRoleBinding", None, "ci-deployer-admin", "ClusterRole", "cluster-admin", "ci", "ci-deployer"),
                ("ClusterRoleBinding", None, "datadog-view", "ClusterRole", "view", "monitoring", "datadog-agent"),
                ("RoleBinding", "support", "triage-reads-secrets", "Role", "secret-reader", "support", "ticket-triage-llm"),
                ("RoleBinding", "support", "summarizer-view", "ClusterRole", "view", "support", "support-summarizer"),
                ("RoleBinding", "finance", "reconciler-view", "ClusterRole", "view", "finance", "finance-reconciler")]
    for kind, ns, name, role_kind, role, sa_ns, sa in bindings:
        items.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": k8s_meta(name, ns, at(300)),
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
                      "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}]})
    write("k8s/prod-eu-1.json", {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
    ml: list[dict[str, Any]] = []
    for ns, name, annotations, labels in [
        ("rag", "vertex-rag-indexer", {"iam.gke.io/gcp-service-account": f"vertex-rag-indexer@{GCP}.iam.gserviceaccount.com"}, {"app.kubernetes.io/name": "rag-indexer"}),
        ("rag", "vllm-server", {}, {"app.kubernetes.io/name": "vllm"}),
        ("ml", "notebook-runner", {"iam.gke.io/gcp-service-account": f"notebooks@{GCP}.iam.gserviceaccount.com"}, {}),
        ("ml", "feature-store", {}, {"team": "data"}),
        ("default", "default", {}, {}),
    ]:
        ml.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": k8s_meta(name, ns, at(RNG.randrange(60, 300)), annotations=annotations, labels=labels)})
    ml.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": k8s_meta("vllm-admin", None, at(90)),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "ServiceAccount", "name": "vllm-server", "namespace": "rag"}]})
    write("k8s/ml-us-1.json", {"apiVersion": "v1", "items": ml, "kind": "List", "metadata": {"resourceVersion": ""}})


# -- Google Cloud ----------------------------------------------------------------------------------
def gcp() -> None:
    accounts = [("vertex-rag-indexer", "Vertex RAG indexer", "Embeds docs for the support assistant. owner: lena.fischer@acme.example"),
                ("notebooks", "Data science notebooks", "Shared notebooks identity"),
                ("legacy-deployer", "Legacy deployer", "Old CI deployer from 2024"),
                ("gemini-summarizer", "Gemini meeting summaries", "Summaries of meeting recordings (pilot)"),
                ("bigquery-export", "BigQuery export", "Nightly exports to the lake. owner: raj.patel@acme.example"),
                ("looker-reader", "Looker", "Dashboards"), ("pubsub-bridge", "Pub/Sub bridge", ""), ("cloud-scheduler", "Scheduler", ""),
                ("feature-store", "Feature store", "Vertex feature store writer"), ("dataflow-runner", "Dataflow", "")]
    listed = []
    keys: list[dict[str, Any]] = []
    activity = []
    for n, (name, display, description) in enumerate(accounts):
        email = f"{name}@{GCP}.iam.gserviceaccount.com"
        listed.append({"description": description, "displayName": display, "email": email, "etag": "MDEwMjE5MjA=",
                       "name": f"projects/{GCP}/serviceAccounts/{email}", "oauth2ClientId": str(10**20 + RNG.randrange(10**19)),
                       "projectId": GCP, "uniqueId": str(10**20 + RNG.randrange(10**19))})
        if name in ("legacy-deployer", "gemini-summarizer", "bigquery-export", "notebooks"):
            key_id = "".join(RNG.choice("0123456789abcdef") for _ in range(40))
            created = at({"legacy-deployer": 690, "gemini-summarizer": 75, "bigquery-export": 410, "notebooks": 220}[name])
            keys.append({"keyAlgorithm": "KEY_ALG_RSA_2048", "keyOrigin": "GOOGLE_PROVIDED", "keyType": "USER_MANAGED",
                         "name": f"projects/{GCP}/serviceAccounts/{email}/keys/{key_id}", "validAfterTime": iso(created, "z"),
                         "validBeforeTime": "9999-12-31T23:59:59Z"})
            last = {"legacy-deployer": 400, "gemini-summarizer": 1, "bigquery-export": 0.5, "notebooks": 30}[name]
            activity.append({"activity": {"lastAuthenticatedTime": iso(at(last), "z"), "serviceAccountKey": {
                "fullResourceName": f"//iam.googleapis.com/projects/{GCP}/serviceAccounts/{email}/keys/{key_id}",
                "projectNumber": "842113970211", "serviceAccountId": listed[-1]["uniqueId"]}},
                "activityType": "serviceAccountKeyLastAuthentication",
                "fullResourceName": f"//iam.googleapis.com/projects/{GCP}/serviceAccounts/{email}/keys/{key_id}",
                "observationPeriod": {"endTime": iso(NOW, "z"), "startTime": iso(at(365), "z")}})
        keys.append({"keyAlgorithm": "KEY_ALG_RSA_2048", "keyOrigin": "GOOGLE_PROVIDED", "keyType": "SYSTEM_MANAGED",
                     "name": f"projects/{GCP}/serviceAccounts/{email}/keys/{''.join(RNG.choice('0123456789abcdef') for _ in range(40))}",
                     "validAfterTime": iso(at(10), "z"), "validBeforeTime": iso(at(-20), "z")})
    write("gcp/service-accounts.json", listed)
    (OUT / "gcp/keys.json").write_text("\n".join(json.dumps([k], indent=2) for k in keys) + "\n", encoding="utf-8")
    write("gcp/activity.json", activity)
    sa = lambda name: f"serviceAccount:{name}@{GCP}.iam.gserviceaccount.com"  # noqa: E731
    write("gcp/iam-policy.json", {"bindings": [
        {"members": [sa("vertex-rag-indexer"), sa("gemini-summarizer"), sa("notebooks"), "serviceAccount:service-842113970211@gcp-sa-aiplatform.iam.gserviceaccount.com"], "role": "roles/aiplatform.user"},
        {"members": [sa("legacy-deployer"), "user:ada.osei@acme.example"], "role": "roles/owner"},
        {"members": ["serviceAccount:842113970211-compute@developer.gserviceaccount.com"], "role": "roles/editor"},
        {"members": [sa("bigquery-export"), sa("looker-reader")], "role": "roles/bigquery.dataViewer"},
        {"members": [sa("bigquery-export"), sa("dataflow-runner")], "role": "roles/storage.objectAdmin",
         "condition": {"title": "lake bucket only", "expression": "resource.name.startsWith('projects/_/buckets/acme-lake')"}},
        {"members": [sa("feature-store")], "role": "roles/aiplatform.featurestoreUser"},
        {"members": [sa("pubsub-bridge"), sa("cloud-scheduler")], "role": "roles/pubsub.publisher"},
    ], "etag": "BwYb3xEXAMPLE=", "version": 1})


# -- Microsoft Entra ID ------------------------------------------------------------------------------
GRAPH_ROLES = {"Mail.Read": "810c84a8-4a9e-49e6-bf7d-12d183f40d01", "Mail.Send": "b633e1c5-b582-4048-a93e-9f11b44c7e96",
               "Files.Read.All": "01d4889c-1287-42c6-ac1f-5d1e02578ef6", "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
               "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7", "Calendars.Read": "798ee544-9d2d-430c-a058-570e29e34338",
               "Sites.Read.All": "332a536c-c7ef-4017-ab91-336970924f0d"}
GRAPH_SP = "4b6f1c3e-EXAM-PLE0-0000-graph0000001"


def entra() -> None:
    people = {"maria": "maria.garcia@acme.example", "tom": "tom.keller@acme.example", "priya": "priya.nair@acme.example",
              "elena": "elena.rossi@acme.example", "lena": "lena.fischer@acme.example", "jonas": "jonas.berg@acme.example"}
    own = [("acme-hr-sync", ["elena"], ["Directory.ReadWrite.All", "User.Read.All"], 700, 0.5),
           ("acme-finance-reports", ["priya"], ["Files.Read.All"], 500, 2),
           ("support-summarizer-graph", ["maria"], ["Mail.Read"], 200, 0.2),
           ("meeting-notes-gpt", ["tom"], ["Calendars.Read", "Files.Read.All", "Mail.Read"], 260, 240),
           ("copilot-studio-helpdesk", ["lena"], ["Sites.Read.All", "User.Read.All"], 90, 1),
           ("legacy-sharepoint-sync", [], ["Sites.Read.All"], 900, 400),
           ("acme-intranet", ["jonas"], [], 800, 0.1)]
    third = [("OpenAI ChatGPT Enterprise", "OpenAI", ["Files.Read.All", "Sites.Read.All", "User.Read"], True),
             ("Otter.ai", "Otter.ai, Inc.", ["Calendars.Read", "User.Read"], False),
             ("Zoom", "Zoom Video Communications", ["Calendars.Read", "User.Read"], True),
             ("Fireflies.ai", "Fireflies.ai Corp", ["Calendars.Read", "Mail.Read"], False),
             ("Adobe Acrobat", "Adobe", ["User.Read"], True)]
    applications, principals, grants, signins = [], [], [], []
    principals.append({"id": GRAPH_SP, "appId": "00000003-0000-0000-c000-000000000000", "displayName": "Microsoft Graph",
                       "servicePrincipalType": "Application", "appOwnerOrganizationId": "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
                       "accountEnabled": True, "appRoles": [{"id": v, "value": k, "allowedMemberTypes": ["Application"]} for k, v in GRAPH_ROLES.items()],
                       "passwordCredentials": [], "keyCredentials": [], "tags": [], "appRoleAssignments": []})
    for name, owners, roles, age, last in own:
        app_id, sp_id, obj = (str(uuid.UUID(int=RNG.getrandbits(128))) for _ in range(3))
        secrets = []
        if name != "acme-intranet":
            start = at(min(age, 700))
            end = start + dt.timedelta(days=730 if name != "legacy-sharepoint-sync" else 365)
            secrets.append({"customKeyIdentifier": None, "displayName": f"{name}-secret", "endDateTime": iso(end, "z"),
                            "hint": ident("", 3, "abcdefghijklmnopqrstuvwxyz0123456789~."), "keyId": str(uuid.UUID(int=RNG.getrandbits(128))),
                            "secretText": None, "startDateTime": iso(start, "z")})
        certs = []
        if name == "support-summarizer-graph":
            certs.append({"customKeyIdentifier": "EXAMPLE9F3A1C2B4D6E8F0A1B2C3D4E5F6A7B8C9D0", "displayName": "CN=support-summarizer",
                          "endDateTime": iso(at(-300), "z"), "key": None, "keyId": str(uuid.UUID(int=RNG.getrandbits(128))),
                          "startDateTime": iso(at(60), "z"), "type": "AsymmetricX509Cert", "usage": "Verify"})
        applications.append({"id": obj, "appId": app_id, "displayName": name, "createdDateTime": iso(at(age), "z"),
                             "signInAudience": "AzureADMyOrg", "passwordCredentials": secrets, "keyCredentials": certs,
                             "owners": [{"@odata.type": "#microsoft.graph.user", "id": str(uuid.UUID(int=RNG.getrandbits(128))),
                                         "displayName": people[o].split("@")[0].replace(".", " ").title(), "userPrincipalName": people[o],
                                         "mail": people[o]} for o in owners]})
        principals.append({"id": sp_id, "appId": app_id, "displayName": name, "servicePrincipalType": "Application",
                           "appOwnerOrganizationId": TENANT, "accountEnabled": True, "appRoles": [], "passwordCredentials": [],
                           "keyCredentials": [], "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
                           "appRoleAssignments": [{"id": ident("", 22, "abcdefghijklmnopqrstuvwxyzABCDEFGH0123456789"), "appRoleId": GRAPH_ROLES[r],
                                                   "principalId": sp_id, "principalType": "ServicePrincipal", "resourceId": GRAPH_SP,
                                                   "resourceDisplayName": "Microsoft Graph", "createdDateTime": iso(at(age - 1), "z")} for r in roles]})
        signins.append({"id": app_id, "appId": app_id, "lastSignInActivity": {"lastSignInDateTime": iso(at(last), "z"), "lastSignInRequestId": str(uuid.UUID(int=RNG.getrandbits(128)))},
                        "applicationAuthenticationClientSignInActivity": {"lastSignInDateTime": iso(at(last), "z")}})
    mi_app = str(uuid.UUID(int=RNG.getrandbits(128)))
    principals.append({"id": str(uuid.UUID(int=RNG.getrandbits(128))), "appId": mi_app, "displayName": "mi-finance-reconciler",
                       "servicePrincipalType": "ManagedIdentity", "appOwnerOrganizationId": None, "accountEnabled": True,
                       "appRoles": [], "passwordCredentials": [], "keyCredentials": [], "tags": [], "appRoleAssignments": []})
    for name, publisher, scopes, everyone in third:
        app_id, sp_id = (str(uuid.UUID(int=RNG.getrandbits(128))) for _ in range(2))
        principals.append({"id": sp_id, "appId": app_id, "displayName": name, "publisherName": publisher, "servicePrincipalType": "Application",
                           "appOwnerOrganizationId": str(uuid.UUID(int=RNG.getrandbits(128))), "accountEnabled": True, "appRoles": [],
                           "passwordCredentials": [], "keyCredentials": [], "tags": ["WindowsAzureActiveDirectoryIntegratedApp"], "appRoleAssignments": []})
        grants.append({"clientId": sp_id, "consentType": "AllPrincipals" if everyone else "Principal", "id": ident("", 43, "abcdefghijklmnopqrstuvwxyzABCDEFGH0123456789_-"),
                       "principalId": None if everyone else str(uuid.UUID(int=RNG.getrandbits(128))), "resourceId": GRAPH_SP, "scope": " ".join(scopes)})
        signins.append({"id": app_id, "appId": app_id, "delegatedClientSignInActivity": {"lastSignInDateTime": iso(at(RNG.choice([0.5, 3, 20])), "z")}})
    context = "https://graph.microsoft.com/v1.0/$metadata#"
    write("entra/applications.json", {"@odata.context": context + "applications(owners())", "value": applications})
    write("entra/servicePrincipals.json", {"@odata.context": context + "servicePrincipals(appRoleAssignments())", "value": principals})
    write("entra/oauth2PermissionGrants.json", {"@odata.context": context + "oauth2PermissionGrants", "value": grants})
    write("entra/signInActivities.json", {"@odata.context": "https://graph.microsoft.com/beta/$metadata#reports/servicePrincipalSignInActivities", "value": signins})
    write("entra/organization.json", {"@odata.context": context + "organization", "value": [
        {"id": TENANT, "displayName": "Acme GmbH", "tenantType": "AAD", "verifiedDomains": [{"name": "acme.example", "isDefault": True, "type": "Managed"}]}]})


# -- Google Workspace -------------------------------------------------------------------------------
SCOPE = "https://www.googleapis.com/auth/"
WORKSPACE_APPS = [  # (client id, name, scopes, share of people who granted it)
    ("511278402-otter.apps.googleusercontent.com", "Otter.ai", [f"{SCOPE}calendar.readonly", f"{SCOPE}drive.file", "openid", "email"], 0.35),
    ("7713922-chatgpt.apps.googleusercontent.com", "ChatGPT", [f"{SCOPE}drive.readonly", "openid", "email"], 0.3),
    ("8820913-claude.apps.googleusercontent.com", "Claude", [f"{SCOPE}gmail.readonly", f"{SCOPE}calendar.readonly", "openid", "email"], 0.15),
    ("2266091-fireflies.apps.googleusercontent.com", "Fireflies.ai", [f"{SCOPE}calendar", f"{SCOPE}drive.file"], 0.1),
    ("3318720-superhuman.apps.googleusercontent.com", "Superhuman", ["https://mail.google.com/", f"{SCOPE}contacts.readonly"], 0.08),
    ("9902331-zoom.apps.googleusercontent.com", "Zoom", [f"{SCOPE}calendar.events"], 0.5),
    ("1100223-notion.apps.googleusercontent.com", "Notion", [f"{SCOPE}drive.readonly"], 0.2),
    ("4455662-reclaim.apps.googleusercontent.com", "Reclaim.ai", [f"{SCOPE}calendar"], 0.12),
]
EMPLOYEES = ["maria.garcia", "li.wei", "sam.okafor", "priya.nair", "jonas.berg", "ada.osei", "fatima.haddad", "noah.smith",
             "elena.rossi", "raj.patel", "lena.fischer", "chen.yu", "sofia.martins", "julia.novak", "marcus.brown",
             "aisha.bello", "lucas.meyer", "nina.petrova", "yusuf.demir", "emma.wilson", "pablo.ruiz", "hana.suzuki"]


def gworkspace() -> None:
    items = []
    for person in EMPLOYEES:
        for client, name, scopes, share in WORKSPACE_APPS:
            if RNG.random() > share:
                continue
            granted = at(RNG.randrange(20, 600))
            items.append(token_event(person, granted, "authorize", client, name, scopes))
            if RNG.random() < 0.5:
                items.append(token_event(person, granted + dt.timedelta(days=RNG.randrange(1, 15)), "activity", client, name, []))
            if RNG.random() < 0.12:
                items.append(token_event(person, granted + dt.timedelta(days=RNG.randrange(16, 19)), "revoke", client, name, []))
    items.sort(key=lambda i: i["id"]["time"], reverse=True)  # the Reports API lists newest first
    write("gworkspace/token-activity.json", {"kind": "admin#reports#activities", "etag": "\"EXAMPLEetag\"", "items": items})


def token_event(person: str, when: dt.datetime, name: str, client: str, app: str, scopes: list[str]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"name": "client_id", "value": client}, {"name": "app_name", "value": app},
                                        {"name": "client_type", "value": "WEB"}]
    if scopes:
        parameters.append({"name": "scope", "multiValue": scopes})
    if name == "activity":
        parameters += [{"name": "api_name", "value": "calendar"}, {"name": "method_name", "value": "calendar.events.list"}]
    return {"kind": "admin#reports#activity", "id": {"time": iso(when, "ms"), "uniqueQualifier": str(-RNG.randrange(10**18)),
                                                      "applicationName": "token", "customerId": CUSTOMER},
            "etag": "\"EXAMPLE\"", "actor": {"email": f"{person}@acme.example", "profileId": str(10**20 + RNG.randrange(10**19))},
            "events": [{"type": "auth", "name": name, "parameters": parameters}]}


# -- GitHub ---------------------------------------------------------------------------------------
def github() -> None:
    pats = []
    for n, (name, login, perms, selection, last, expires) in enumerate([
        ("gpt-pr-summarizer", "jonas-berg", {"repository": {"contents": "read", "pull_requests": "write", "metadata": "read"}}, "all", 0.5, 200),
        ("release-notes-writer", "tom-keller", {"repository": {"contents": "read", "pull_requests": "read", "metadata": "read"}}, "all", 1, 45),
        ("terraform-github", "elena-rossi", {"organization": {"administration": "write", "members": "write"}, "repository": {"administration": "write", "contents": "write"}}, "all", 0.2, 300),
        ("llm-eval-results", "lena-fischer", {"repository": {"contents": "write", "metadata": "read"}}, "subset", 12, 20),
        ("old-migration-script", "tom-keller", {"repository": {"contents": "write", "metadata": "read"}}, "all", 320, -10),
        ("docs-sync", "noah-smith", {"repository": {"contents": "read", "metadata": "read"}}, "subset", 6, 120),
        ("copilot-workspace-test", "chen-yu", {"repository": {"contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read"}}, "all", 3, 60),
    ]):
        token_id = 8800100 + n * 37
        pats.append({"id": 25381 + n, "owner": {"login": login, "id": 583231 + n, "type": "User", "site_admin": False},
                     "repository_selection": selection, "repositories_url": f"https://api.github.com/orgs/{ORG}/personal-access-tokens/{25381 + n}/repositories",
                     "permissions": perms, "access_granted_at": iso(at(RNG.randrange(60, 400)), "github"),
                     "token_id": token_id, "token_name": name, "token_expired": expires < 0,
                     "token_expires_at": iso(at(-expires), "github"), "token_last_used_at": iso(at(last), "github")})
    # gh api --paginate writes one array per page, back to back
    text = json.dumps(pats[:4], indent=2) + "\n" + json.dumps(pats[4:], indent=2) + "\n"
    (OUT / "github").mkdir(parents=True, exist_ok=True)
    (OUT / "github/personal-access-tokens.json").write_text(text, encoding="utf-8")
    installations = []
    for n, (slug, perms, selection, events) in enumerate([
        ("acme-code-reviewer", {"contents": "read", "pull_requests": "write", "metadata": "read"}, "selected", ["pull_request"]),
        ("coderabbitai", {"contents": "read", "pull_requests": "write", "issues": "write", "checks": "write", "metadata": "read"}, "all", ["pull_request", "issue_comment"]),
        ("devin-ai-integration", {"contents": "write", "pull_requests": "write", "workflows": "write", "metadata": "read"}, "all", ["push", "pull_request"]),
        ("renovate", {"contents": "write", "pull_requests": "write", "metadata": "read", "workflows": "write"}, "all", ["push"]),
        ("snyk-security", {"contents": "read", "metadata": "read", "checks": "write"}, "all", ["pull_request"]),
        ("linear", {"issues": "write", "pull_requests": "read", "metadata": "read"}, "selected", ["issues", "pull_request"]),
        ("slack", {"issues": "read", "pull_requests": "read", "metadata": "read"}, "all", ["issues"]),
        ("vercel", {"contents": "read", "deployments": "write", "statuses": "write", "metadata": "read"}, "selected", ["push"]),
    ]):
        installations.append({"id": 4100200 + n, "account": {"login": ORG, "id": 9919001, "type": "Organization"},
                              "repository_selection": selection, "access_tokens_url": f"https://api.github.com/app/installations/{4100200 + n}/access_tokens",
                              "repositories_url": "https://api.github.com/installation/repositories",
                              "html_url": f"https://github.com/organizations/{ORG}/settings/installations/{4100200 + n}",
                              "app_id": 300100 + n, "app_slug": slug, "target_id": 9919001, "target_type": "Organization",
                              "permissions": perms, "events": events, "created_at": iso(at(RNG.randrange(30, 700)), "z"),
                              "updated_at": iso(at(RNG.randrange(1, 30)), "z"), "single_file_name": None, "suspended_by": None, "suspended_at": None})
    write("github/installations.json", {"total_count": len(installations), "installations": installations})
    keys = []
    for n, (repo, title, read_only, added_by, last) in enumerate([
        ("platform-api", "argocd-platform-api", True, "ada-osei", 0.1), ("platform-web", "argocd-platform-web", True, "ada-osei", 0.1),
        ("llm-eval", "llm-eval-runner", False, "lena-fischer", 2), ("infra", "legacy-jenkins", False, "tom-keller", 410),
        ("docs", "docs-builder", True, "noah-smith", 5), ("data-pipelines", "airflow-dags-sync", True, "raj-patel", 0.5),
    ]):
        blob = base64.b64encode(RNG.randbytes(51)).decode()
        keys.append({"id": 7700100 + n, "key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{blob}", "url": f"https://api.github.com/repos/{ORG}/{repo}/keys/{7700100 + n}",
                     "title": title, "verified": True, "created_at": iso(at(RNG.randrange(100, 900)), "z"), "read_only": read_only,
                     "added_by": added_by, "last_used": iso(at(last), "z"), "enabled": True})
    write("github/deploy-keys.json", keys)


# -- Okta -----------------------------------------------------------------------------------------
def okta() -> None:
    base = f"https://{OKTA}/api/v1"
    users = {}
    for person in EMPLOYEES + ["tom.keller"]:
        uid = ident("00u", 17, "abcdefghijklmnopqrstuvwxyz0123456789")
        users[person] = uid
    write("okta/users.json", [{"id": uid, "status": "DEPROVISIONED" if person == "tom.keller" else "ACTIVE",
                               "created": iso(at(RNG.randrange(400, 1500)), "ms"), "profile": {"login": f"{person}@acme.example", "email": f"{person}@acme.example",
                               "firstName": person.split(".")[0].title(), "lastName": person.split(".")[1].title()},
                               "_links": {"self": {"href": f"{base}/users/{uid}"}}} for person, uid in users.items()])
    tokens = []
    for name, person, created, last in [("Terraform", "elena.rossi", 500, 0.5), ("SCIM bridge", "ada.osei", 700, 0.1),
                                        ("ai-helpdesk-bot", "tom.keller", 280, 2), ("Okta Workflows export", "li.wei", 400, 200)]:
        token_id = ident("00T", 17, "abcdefghijklmnopqrstuvwxyz0123456789")
        tokens.append({"clientName": "Okta API", "created": iso(at(created), "ms"), "expiresAt": iso(at(last - 30), "ms"),
                       "id": token_id, "lastUpdated": iso(at(last), "ms"), "name": name, "tokenWindow": "PT30D", "userId": users[person],
                       "network": {"connection": "ANYWHERE"}, "_link": {"self": {"href": f"{base}/api-tokens/{token_id}"}}})
    write("okta/api-tokens.json", tokens)
    apps, grants = [], []
    service_apps = [("support-summarizer-okta", "0oa8supsumm4RYq5d697", "private_key_jwt", ["okta.users.read", "okta.groups.read"]),
                    ("hr-sync-service", "0oa8hrsync00RYq5d697", "client_secret_basic", ["okta.users.manage", "okta.groups.manage"]),
                    ("chatbot-user-lookup", "0oa8chatbot0RYq5d697", "client_secret_post", ["okta.users.read", "okta.logs.read"]),
                    ("backup-exporter", "0oa8backup00RYq5d697", "client_secret_basic", ["okta.apps.read"])]
    for label, client, method, scopes in service_apps:
        app_id = ident("0oa", 17, "abcdefghijklmnopqrstuvwxyz0123456789")
        jwks = {"keys": [{"kty": "RSA", "kid": f"{label}-key-2026", "e": "AQAB", "n": "EXAMPLE" + "x" * 40}]} if method == "private_key_jwt" else None
        apps.append({"id": app_id, "name": "oidc_client", "label": label, "status": "ACTIVE", "created": iso(at(RNG.randrange(90, 600)), "ms"),
                     "signOnMode": "OPENID_CONNECT", "credentials": {"oauthClient": {"client_id": client, "autoKeyRotation": True,
                                                                                     "token_endpoint_auth_method": method}},
                     "settings": {"oauthClient": {"application_type": "service", "grant_types": ["client_credentials"],
                                                  "response_types": ["token"], **({"jwks": jwks} if jwks else {})}},
                     "_links": {"self": {"href": f"{base}/apps/{app_id}"}}})
        for scope in scopes:
            grants.append({"id": ident("oag", 17, "abcdefghijklmnopqrstuvwxyz0123456789"), "status": "ACTIVE", "created": iso(at(80), "ms"),
                           "createdBy": {"id": users["ada.osei"], "type": "User"}, "lastUpdated": iso(at(80), "ms"),
                           "issuer": f"https://{OKTA}", "clientId": client, "scopeId": scope, "source": "ADMIN",
                           "_links": {"app": {"href": f"{base}/apps/{app_id}"}}})
    for label in ["Salesforce", "Workday", "Zendesk", "AWS IAM Identity Center", "GitHub Enterprise"]:
        app_id = ident("0oa", 17, "abcdefghijklmnopqrstuvwxyz0123456789")
        apps.append({"id": app_id, "name": label.lower().replace(" ", "_"), "label": label, "status": "ACTIVE", "created": iso(at(900), "ms"),
                     "signOnMode": "SAML_2_0", "credentials": {"userNameTemplate": {"template": "${source.login}"}},
                     "settings": {}, "_links": {"self": {"href": f"{base}/apps/{app_id}"}}})
    write("okta/apps.json", apps)
    write("okta/app-grants.json", grants)


# -- Slack ----------------------------------------------------------------------------------------
def slack() -> None:
    users = {p: ident("U0", 9) for p in EMPLOYEES}
    apps = [("A07SUPDIG01", "Support Digest", "Posts the daily support digest", [("chat:write", False), ("channels:read", False)], "maria.garcia", True),
            ("A05CHATGPT1", "ChatGPT", "ChatGPT in Slack", [("assistant:write", False), ("channels:history", True), ("im:history", True), ("chat:write", False)], "jonas.berg", False),
            ("A06CLAUDE01", "Claude", "Claude for Slack", [("assistant:write", False), ("channels:history", True), ("users:read.email", True)], "lena.fischer", False),
            ("A04RELNOTE1", "Release Notes Bot", "Posts release notes to #releases", [("chat:write", False), ("files:write", False)], "tom.keller", True),
            ("A03JIRA0001", "Jira Cloud", "Jira notifications", [("chat:write", False), ("links:read", False), ("links:write", False)], "li.wei", False),
            ("A03GDRIVE01", "Google Drive", "Drive file previews", [("links:read", False), ("files:read", True)], "sam.okafor", False),
            ("A02ZOOM0001", "Zoom", "Start Zoom meetings", [("commands", False), ("chat:write", False)], "sam.okafor", False),
            ("A08OTTER001", "Otter.ai", "Meeting notes from Otter", [("chat:write", False), ("channels:history", True), ("files:write", False)], "chen.yu", False),
            ("A01PAGERDTY", "PagerDuty", "Incident alerts", [("chat:write", False), ("channels:manage", False)], "ada.osei", True),
            ("A09HRSYNC01", "HR Sync (legacy)", "Directory sync", [("admin", True), ("users:write", False)], "li.wei", True)]
    approved, members, logs = [], [], []
    for app_id, name, description, scopes, person, internal in apps:
        when = at(RNG.randrange(30, 700))
        approved.append({"app": {"id": app_id, "name": name, "description": description, "help_url": "", "privacy_policy_url": "",
                                 "app_homepage_url": "", "app_directory_url": "", "is_app_directory_approved": not internal,
                                 "is_internal": internal, "additional_info": ""},
                         "scopes": [{"name": s, "description": s, "is_sensitive": sensitive, "token_type": "bot"} for s, sensitive in scopes],
                         "date_updated": int(when.timestamp()), "last_resolved_by": {"actor_id": users.get(person, "W0ADMIN01"), "actor_type": "user"},
                         "enterprise": {"id": SLACK, "name": "Acme", "domain": "acme"}})
        logs.append({"app_id": app_id, "app_type": "app", "user_id": users.get(person, "W0ADMIN01"), "user_name": person.split(".")[0],
                     "date": str(int(when.timestamp())), "change_type": "added", "scope": ",".join(s for s, _ in scopes)})
        members.append({"id": ident("U0", 9), "team_id": "T0ACMEHQ1", "name": name.lower().replace(" ", "-").replace(".", ""), "deleted": False,
                        "real_name": name, "is_bot": True, "is_app_user": False, "updated": int(when.timestamp()),
                        "profile": {"api_app_id": app_id, "bot_id": ident("B0", 9), "real_name": name}})
    for person, uid in users.items():
        members.append({"id": uid, "team_id": "T0ACMEHQ1", "name": person.split(".")[0], "deleted": False, "real_name": person.replace(".", " ").title(),
                        "is_bot": False, "updated": int(at(30).timestamp()), "profile": {"email": f"{person}@acme.example", "real_name": person.replace(".", " ").title()}})
    logs.append({"app_id": "A09HRSYNC01", "app_type": "app", "user_id": users["li.wei"], "user_name": "li", "date": str(int(at(20).timestamp())),
                 "change_type": "removed", "scope": "", "reason": "user"})
    write("slack/approved-apps.json", {"ok": True, "approved_apps": approved, "response_metadata": {"next_cursor": ""}})
    write("slack/users.json", {"ok": True, "members": members, "cache_ts": int(NOW.timestamp()), "response_metadata": {"next_cursor": ""}})
    write("slack/integration-logs.json", {"ok": True, "logs": logs, "paging": {"count": len(logs), "total": len(logs), "page": 1, "pages": 1}})


def main() -> None:
    aws()
    k8s()
    gcp()
    entra()
    gworkspace()
    github()
    okta()
    slack()
    print(f"wrote {sum(1 for p in OUT.rglob('*') if p.is_file() and p.suffix in ('.json', '.csv'))} export files under {OUT}")


if __name__ == "__main__":
    main()
