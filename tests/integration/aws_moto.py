"""A real AWS API endpoint on loopback (moto's server mode) and an account seeded through it.

Tests reach it the way a user's machine reaches AWS: boto3 over HTTP, with
``AWS_ENDPOINT_URL`` pointing at it. Nothing of Charter is mocked.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import boto3

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class Seeded:
    """What :func:`seed` made: names and the one secret that must never be stored."""

    deployer_key_id: str
    deployer_secret: str
    agent_role_arn: str
    function_arn: str


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def seed(endpoint: str) -> Seeded:
    """Users, a group, managed and inline policies, roles, a key, a Lambda, a Bedrock agent,
    a SageMaker model.
    """
    iam = client("iam", endpoint)
    claims = iam.create_policy(
        PolicyName="ReadClaims",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::claims/*"}
        ),
    )["Policy"]["Arn"]
    iam.create_group(GroupName="readers")
    iam.attach_group_policy(GroupName="readers", PolicyArn=claims)
    iam.create_user(UserName="ci-deployer", Tags=[{"Key": "owner", "Value": "dana@example.com"}])
    iam.put_user_policy(
        UserName="ci-deployer",
        PolicyName="everything",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    )
    key = iam.create_access_key(UserName="ci-deployer")["AccessKey"]
    iam.create_user(UserName="report-reader")
    iam.add_user_to_group(GroupName="readers", UserName="report-reader")
    agent_role = iam.create_role(
        RoleName="claims-agent-role", AssumeRolePolicyDocument=_trust("bedrock.amazonaws.com")
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="claims-agent-role",
        PolicyName="tools",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}
        ),
    )
    exec_role = iam.create_role(
        RoleName="claims-tool-exec", AssumeRolePolicyDocument=_trust("lambda.amazonaws.com")
    )["Role"]["Arn"]
    function = client("lambda", endpoint).create_function(
        FunctionName="claims-lookup",
        Runtime="python3.12",
        Role=exec_role,
        Handler="handler.handler",
        Code={"ZipFile": _zip()},
    )["FunctionArn"]
    client("bedrock-agent", endpoint).create_agent(
        agentName="claims-agent",
        agentResourceRoleArn=agent_role,
        foundationModel="anthropic.claude-3-haiku-20240307-v1:0",
    )
    client("sagemaker", endpoint).create_model(
        ModelName="claims-ranker",
        ExecutionRoleArn=agent_role,
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ranker:1"},
    )
    return Seeded(key["AccessKeyId"], key["SecretAccessKey"], agent_role, function)
