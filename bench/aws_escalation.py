"""AWS privilege-escalation analysis at scale, beside the time to merely load the same export.

    .venv/bin/python bench/aws_escalation.py [--roles 5000] [--policies 20000] [--users 500]
    .venv/bin/python bench/aws_escalation.py --estate     # the AWS part of bench/estate.py

Writes a synthetic ``get-account-authorization-details`` export (deterministic:
customer-managed policies naming S3, DynamoDB, Lambda, SQS and KMS actions on
specific resources, some with ``iam:PassRole``, ``sts:AssumeRole``, service
create/run actions, conditions and Denies; roles trusted by services — EC2
ones with instance profiles — by named roles or by the account; users in
groups; a few administrators) and runs the AWS connector over it twice: once
with the escalation analysis switched off (the load: parse, policy
expansion, effective permissions, identities and grants), once as
``charter discover aws`` runs it. It prints both, and the analysis alone.

``--estate`` sizes the export as the AWS share of ``bench/estate.py``'s
default estate: 10 accounts of 2,000 identities (100,000 identities over 50
systems, one in five AWS), one export per account.

Targets: the analysis over 5,000 roles and 20,000 policies within 10 s; the
AWS part of the estate within 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from charter.connectors import aws_escalation_input, registry

SERVICES = [
    "lambda.amazonaws.com",
    "ec2.amazonaws.com",
    "glue.amazonaws.com",
    "sagemaker.amazonaws.com",
    "codebuild.amazonaws.com",
]
ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "kms:Decrypt",
    "logs:PutLogEvents",
]


def _doc(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def export(account: str, roles: int, policies: int, users: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    arn = f"arn:aws:iam::{account}"
    pols = []
    for n in range(policies):
        statements: list[dict[str, Any]] = [
            {
                "Effect": "Allow",
                "Action": rng.sample(ACTIONS, 3),
                "Resource": [
                    f"arn:aws:s3:::bucket-{n % 700}/*",
                    f"arn:aws:dynamodb:eu-west-1:{account}:table/t{n % 900}",
                ],
            }
        ]
        roll = rng.random()
        if roll < 0.04:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": f"{arn}:role/app-{n % 40}-*",
                }
            )
        elif roll < 0.06:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": [
                        "lambda:CreateFunction",
                        "lambda:InvokeFunction",
                        "lambda:UpdateFunctionCode",
                    ],
                    "Resource": "*",
                }
            )
        elif roll < 0.09:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": f"{arn}:role/team-{n % 50}-*",
                }
            )
        elif roll < 0.10:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}},
                }
            )
        elif roll < 0.11:
            statements.append({"Effect": "Deny", "Action": "iam:*", "Resource": "*"})
        elif roll < 0.115:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": ["iam:CreatePolicyVersion", "iam:GetPolicy"],
                    "Resource": f"{arn}:policy/p{n}",
                }
            )
        pols.append(
            {
                "PolicyName": f"p{n}",
                "PolicyId": f"ANPA{n:016d}",
                "Arn": f"{arn}:policy/p{n}",
                "Path": "/",
                "DefaultVersionId": "v1",
                "AttachmentCount": 1,
                "IsAttachable": True,
                "PolicyVersionList": [
                    {"Document": _doc(statements), "VersionId": "v1", "IsDefaultVersion": True}
                ],
            }
        )
    pols.append(
        {
            "PolicyName": "admin",
            "Arn": f"{arn}:policy/admin",
            "DefaultVersionId": "v1",
            "PolicyVersionList": [
                {
                    "Document": _doc([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
                    "VersionId": "v1",
                    "IsDefaultVersion": True,
                }
            ],
        }
    )

    def attached(count: int) -> list[dict[str, str]]:
        return [
            {"PolicyName": f"p{i}", "PolicyArn": f"{arn}:policy/p{i}"}
            for i in rng.sample(range(policies), count)
        ]

    role_list = []
    for n in range(roles):
        kind = ("app", "team", "svc")[n % 3]
        name = f"{kind}-{n % 50}-{n}"
        roll = rng.random()
        profile = []
        if roll < 0.5:
            service = rng.choice(SERVICES)
            principal: dict[str, Any] = {"Service": service}
            if service == "ec2.amazonaws.com":
                profile = [{"InstanceProfileName": name, "Arn": f"{arn}:instance-profile/{name}"}]
        elif roll < 0.9:
            principal = {"AWS": f"{arn}:role/svc-{rng.randrange(50)}-{rng.randrange(roles)}"}
        else:
            principal = {"AWS": f"{arn}:root"}
        managed = attached(4)
        if n % 500 == 0:
            managed.append({"PolicyName": "admin", "PolicyArn": f"{arn}:policy/admin"})
        role_list.append(
            {
                "Path": "/",
                "RoleName": name,
                "RoleId": f"AROA{n:016d}",
                "Arn": f"{arn}:role/{name}",
                "AssumeRolePolicyDocument": _doc(
                    [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]
                ),
                "InstanceProfileList": profile,
                "RolePolicyList": [],
                "AttachedManagedPolicies": managed,
                "Tags": [],
                "RoleLastUsed": {},
            }
        )
    groups = [
        {
            "GroupName": f"g{n}",
            "Arn": f"{arn}:group/g{n}",
            "GroupPolicyList": [],
            "AttachedManagedPolicies": attached(2),
        }
        for n in range(20)
    ]
    user_list = [
        {
            "Path": "/",
            "UserName": f"u{n}",
            "UserId": f"AIDA{n:016d}",
            "Arn": f"{arn}:user/u{n}",
            "UserPolicyList": [],
            "GroupList": [f"g{n % 20}"],
            "AttachedManagedPolicies": attached(2),
            "Tags": [],
        }
        for n in range(users)
    ]
    return {
        "UserDetailList": user_list,
        "GroupDetailList": groups,
        "RoleDetailList": role_list,
        "Policies": pols,
    }


def run(paths: list[Path], *, analyse: bool) -> tuple[float, float, float, float, int, int]:
    """(wall s, CPU s, wall s inside the analysis, CPU s inside it, identities, edges)."""
    inside = [0.0, 0.0]
    real = aws_escalation_input.build

    def timed(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return real(*args, **kwargs) if analyse else None
        finally:
            inside[0] += time.perf_counter() - start
            inside[1] += time.process_time() - cpu

    aws_escalation_input.build = timed  # type: ignore[assignment]
    try:
        connector = registry.get("aws")
        start, cpu = time.perf_counter(), time.process_time()
        identities = edges = 0
        for path in paths:
            files = registry.files_for(connector, [path])
            for batch in connector.normalize(connector.fetch(files)):
                identities += sum(1 for _ in batch.identities)
                edges += sum(1 for g in batch.grants if "escalation" in g.properties)
        wall, used = time.perf_counter() - start, time.process_time() - cpu
        return wall, used, inside[0], inside[1], identities, edges
    finally:
        aws_escalation_input.build = real  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--roles", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=20000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--estate", action="store_true", help="10 accounts of 2,000 identities")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        if args.estate:
            sizes = [(f"3000000000{n:02d}", 1800, 4000, 200) for n in range(10)]
        else:
            sizes = [("123456789012", args.roles, args.policies, args.users)]
        for n, (account, roles, policies, users) in enumerate(sizes):
            path = Path(tmp) / account / "authorization-details.json"
            path.parent.mkdir()
            path.write_text(json.dumps(export(account, roles, policies, users, seed=n)))
            paths.append(path)
        size = sum(p.stat().st_size for p in paths) / 1e6
        roles, policies, users = (sum(s[k] for s in sizes) for k in (1, 2, 3))
        print(
            f"export: {len(paths)} account(s), {roles} roles, {policies} policies, "
            f"{users} users, {size:.0f} MB; load avg {os.getloadavg()[0]:.1f}"
        )
        load, load_cpu, _, _, identities, _ = run(paths, analyse=False)
        print(
            f"load only (parse, effective permissions, identities, grants): {load:.2f} s wall, "
            f"{load_cpu:.2f} s CPU, {identities} identities"
        )
        total, total_cpu, inside, inside_cpu, _, edges = run(paths, analyse=True)
        print(
            f"with escalation analysis: {total:.2f} s wall, {total_cpu:.2f} s CPU; "
            f"the analysis alone {inside:.2f} s wall, {inside_cpu:.2f} s CPU; "
            f"{edges} escalation edges stored; load avg {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
