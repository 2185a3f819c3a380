"""The escalation analysis's model (principals, groups, trust) and the service techniques.

A role a service may assume can be *become* by whoever gets that service to
run their code as the role: by passing the role to a new resource
(``iam:PassRole`` plus the service's create/run actions) or by taking over
an existing resource that already runs as it. Each entry says which
service principal the role must trust, which actions (one of each group)
are needed, and the sentence a person reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from charter.connectors.aws_eval import PolicySet

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
#: What an attacker attaches: the condition keys of that request.
ATTACH_ADMIN = {"iam:PolicyARN": ADMIN_POLICY}
#: A principal that may do all of these on every resource administers IAM (and so the account).
ADMIN_PROBES = (
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:CreatePolicyVersion",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreateAccessKey",
    "iam:PassRole",
)
#: Actions whose gain makes a role "more privileged" than the identity that can become it.
SENSITIVE = (
    *ADMIN_PROBES,
    "iam:CreateUser",
    "iam:CreateRole",
    "iam:DeleteRole",
    "sts:AssumeRole",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:PutBucketPolicy",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "kms:Decrypt",
    "lambda:CreateFunction",
    "lambda:UpdateFunctionCode",
    "ec2:RunInstances",
    "bedrock:InvokeModel",
    "organizations:LeaveOrganization",
    "cloudtrail:StopLogging",
)


@dataclass(frozen=True, slots=True)
class TrustRule:
    effect: str
    principals: tuple[str, ...]
    services: tuple[str, ...]
    actions: tuple[str, ...]
    condition: dict[str, Any]


def trust_rules(document: dict[str, Any]) -> list[TrustRule]:
    raw = document.get("Statement", [])
    out = []
    for item in [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        principal = item.get("Principal")
        aws: list[str] = []
        services: list[str] = []
        if principal == "*":
            aws = ["*"]
        elif isinstance(principal, dict):
            for key, bucket in (("AWS", aws), ("Service", services)):
                value = principal.get(key)
                bucket += [value] if isinstance(value, str) else [str(v) for v in value or []]
        action = item.get("Action", [])
        out.append(
            TrustRule(
                str(item.get("Effect")),
                tuple(aws),
                tuple(services),
                tuple([action] if isinstance(action, str) else action),
                item.get("Condition") or {},
            )
        )
    return out


@dataclass(slots=True)
class Principal:
    id: str
    kind: str  # "user" | "role"
    name: str
    arn: str
    policies: PolicySet
    tags: dict[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    #: customer-managed policy ARNs that apply to it (directly or through a group)
    managed: tuple[str, ...] = ()
    trust: list[TrustRule] = field(default_factory=list)
    instance_profile: bool = False
    #: a service-linked role: its trust policy cannot be changed and it cannot be passed
    service_linked: bool = False
    admin: bool = False

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(slots=True)
class Group:
    name: str
    arn: str
    policies: PolicySet
    admin: bool = False


@dataclass(frozen=True, slots=True)
class Account:
    """Everything the analysis looks at, for one account."""

    id: str
    principals: Sequence[Principal]
    groups: Sequence[Group] = ()
    #: customer-managed policy ARN → whether a non-default version would make it an admin policy
    admin_versions: frozenset[str] = frozenset()
    #: (function ARN, function name, role ARN) when the export lists Lambda functions
    functions: Sequence[tuple[str, str, str]] | None = None


@dataclass(frozen=True, slots=True)
class ServiceTechnique:
    id: str
    service: str  # the service principal the role must trust
    what: str  # "a new Lambda function runs as it"
    needs: tuple[tuple[str, ...], ...]  # all of these groups, one action of each
    passes_role: bool = True
    needs_profile: bool = False


SERVICE_TECHNIQUES = (
    ServiceTechnique(
        "lambda-create-invoke",
        "lambda.amazonaws.com",
        "a new Lambda function runs as it",
        (
            ("lambda:CreateFunction",),
            (
                "lambda:InvokeFunction",
                "lambda:CreateEventSourceMapping",
                "lambda:CreateFunctionUrlConfig",
            ),
        ),
    ),
    ServiceTechnique(
        "glue-dev-endpoint",
        "glue.amazonaws.com",
        "a new Glue dev endpoint runs as it",
        (("glue:CreateDevEndpoint",),),
    ),
    ServiceTechnique(
        "glue-job",
        "glue.amazonaws.com",
        "a new Glue job runs as it",
        (("glue:CreateJob",), ("glue:StartJobRun", "glue:CreateTrigger")),
    ),
    ServiceTechnique(
        "cloudformation-create-stack",
        "cloudformation.amazonaws.com",
        "a new CloudFormation stack acts as it",
        (("cloudformation:CreateStack",),),
    ),
    ServiceTechnique(
        "datapipeline",
        "datapipeline.amazonaws.com",
        "a new Data Pipeline runs its activities as it",
        (("datapipeline:CreatePipeline",), ("datapipeline:PutPipelineDefinition",)),
    ),
    ServiceTechnique(
        "ec2-run-instances",
        "ec2.amazonaws.com",
        "a new EC2 instance gets its instance profile",
        (("ec2:RunInstances",),),
        needs_profile=True,
    ),
    ServiceTechnique(
        "codebuild-project",
        "codebuild.amazonaws.com",
        "a new CodeBuild project builds as it",
        (("codebuild:CreateProject",), ("codebuild:StartBuild", "codebuild:StartBuildBatch")),
    ),
    ServiceTechnique(
        "sagemaker-notebook",
        "sagemaker.amazonaws.com",
        "a new SageMaker notebook runs as it",
        (
            ("sagemaker:CreateNotebookInstance",),
            ("sagemaker:CreatePresignedNotebookInstanceUrl",),
        ),
    ),
    ServiceTechnique(
        "sagemaker-training-job",
        "sagemaker.amazonaws.com",
        "a new SageMaker training job runs as it",
        (("sagemaker:CreateTrainingJob",),),
    ),
    ServiceTechnique(
        "sagemaker-processing-job",
        "sagemaker.amazonaws.com",
        "a new SageMaker processing job runs as it",
        (("sagemaker:CreateProcessingJob",),),
    ),
    # taking over something that already runs as the role: no iam:PassRole needed
    ServiceTechnique(
        "glue-update-dev-endpoint",
        "glue.amazonaws.com",
        "an existing Glue dev endpoint runs as it",
        (("glue:UpdateDevEndpoint",),),
        passes_role=False,
    ),
    ServiceTechnique(
        "cloudformation-update-stack",
        "cloudformation.amazonaws.com",
        "an existing CloudFormation stack acts as it",
        (("cloudformation:UpdateStack",),),
        passes_role=False,
    ),
    ServiceTechnique(
        "sagemaker-presigned-url",
        "sagemaker.amazonaws.com",
        "an existing SageMaker notebook runs as it",
        (("sagemaker:CreatePresignedNotebookInstanceUrl",),),
        passes_role=False,
    ),
    ServiceTechnique(
        "codebuild-start-build",
        "codebuild.amazonaws.com",
        "an existing CodeBuild project builds as it (buildspec override)",
        (("codebuild:StartBuild", "codebuild:StartBuildBatch"),),
        passes_role=False,
    ),
    ServiceTechnique(
        "ssm-send-command",
        "ec2.amazonaws.com",
        "a running instance holds its instance profile",
        (("ssm:SendCommand",),),
        passes_role=False,
        needs_profile=True,
    ),
    ServiceTechnique(
        "ssm-start-session",
        "ec2.amazonaws.com",
        "a running instance holds its instance profile",
        (("ssm:StartSession",),),
        passes_role=False,
        needs_profile=True,
    ),
    ServiceTechnique(
        "ec2-instance-connect",
        "ec2.amazonaws.com",
        "a running instance holds its instance profile",
        (("ec2-instance-connect:SendSSHPublicKey",),),
        passes_role=False,
        needs_profile=True,
    ),
)
LAMBDA_UPDATE = (
    ("lambda-update-code", "lambda:UpdateFunctionCode"),
    ("lambda-update-configuration", "lambda:UpdateFunctionConfiguration"),
)
