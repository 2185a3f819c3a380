"""AWS AI workloads: Bedrock agents and SageMaker notebooks, models and endpoints.

Records are what the APIs answer: ``bedrock-agent get-agent``'s ``agent``
object, ``sagemaker describe-notebook-instance``, ``describe-model`` and
``describe-endpoint``. Each becomes an AI-related workload identity; the role
it runs as (``agentResourceRoleArn``, ``RoleArn``, ``ExecutionRoleArn``) gets
the workload as evidence that it is AI-related, and a ``runs-as`` grant links
the two, the way a Lambda function links to its execution role.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from charter.connectors.aws_mapping import Context, account_of, arn_identity_id, runs_as
from charter.connectors.base import require
from charter.connectors.dates import parse_time
from charter.connectors.skipping import guard
from charter.connectors.streaming import Rec
from charter.domain.batch import Skipped
from charter.domain.enums import IdentityKind
from charter.domain.estate import Grant, Identity


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of AI workload: the fields that name it and the role it runs as."""

    id: str  # the identity id's resource prefix
    title: str
    arn: str
    name: str
    role: str | None
    created: str


KINDS = (
    Kind(
        "bedrock-agent",
        "Bedrock agent",
        "agentArn",
        "agentName",
        "agentResourceRoleArn",
        "createdAt",
    ),
    Kind(
        "sagemaker-notebook",
        "SageMaker notebook instance",
        "NotebookInstanceArn",
        "NotebookInstanceName",
        "RoleArn",
        "CreationTime",
    ),
    Kind(
        "sagemaker-model",
        "SageMaker model",
        "ModelArn",
        "ModelName",
        "ExecutionRoleArn",
        "CreationTime",
    ),
    Kind(
        "sagemaker-endpoint",
        "SageMaker endpoint",
        "EndpointArn",
        "EndpointName",
        None,
        "CreationTime",
    ),
)


def kind_of(rec: Rec) -> Kind:
    if not isinstance(rec.data, dict):
        raise rec.fail(f"expected an object, found {type(rec.data).__name__}")
    for kind in KINDS:
        if kind.arn in rec.data:
            return kind
    raise rec.fail("not a Bedrock agent or a SageMaker notebook, model or endpoint")


def _named(rec: Rec) -> Kind:
    kind = kind_of(rec)
    require(rec, kind.name)
    return kind


def learn(records: Iterable[Rec], ctx: Context, skipped: Skipped) -> None:
    """Keep the readable workloads in ``ctx`` and note, per role, what runs as it."""
    for rec in records:
        kind = guard(rec, skipped, _named)
        if kind is None:
            continue
        ctx.ai_workloads.append(rec)
        role = str(rec.data.get(kind.role) or "") if kind.role else ""
        if role:
            ctx.ai_roles.setdefault(role, []).append(f"runs {kind.title} {rec.data[kind.name]}")


def workload(rec: Rec, ctx: Context) -> tuple[Identity, list[Grant]]:
    kind = kind_of(rec)
    data = rec.data
    name = str(require(rec, kind.name))
    arn = str(require(rec, kind.arn))
    role = str(data.get(kind.role) or "") if kind.role else ""
    identity = Identity(
        id=f"aws:{ctx.account}:{kind.id}/{name}",
        source="aws",
        account=ctx.account,
        kind=IdentityKind.WORKLOAD,
        name=name,
        system=f"aws:{ctx.account}",
        native_id=arn,
        ai_related=True,
        evidence=(f"a {kind.title}",),
        created_at=parse_time(data.get(kind.created), where=rec.where, field=kind.created),
        properties={
            "arn": arn,
            "role": role,
            "workload": kind.id,
            "links": {"runs-as": arn_identity_id(account_of(role) or ctx.account, role)}
            if role
            else {},
        },
    )
    grants = [runs_as(identity.id, role, ctx, f"{kind.title} {name}")] if role else []
    return identity, grants
