"""AWS IAM records → the estate model, pure: principals, their grants, functions, keys.

The first pass (:func:`first_pass`) learns what principals need: managed
policies, groups, the action catalogue (bundled plus every action the export
names), the credential report and key ids, Lambda functions, and which
functions a Bedrock/SageMaker-trusted role invokes as tools. Then
:func:`principal`, :func:`function` and :func:`credentials` map records.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

from charter.connectors import ai_signals
from charter.connectors import aws_escalation_input as escalation
from charter.connectors.aws_policy import (
    Access,
    ActionCatalog,
    AttachedPolicy,
    effective_access,
    load_document,
    named_actions,
    trust_principals,
)
from charter.connectors.base import Stream, require
from charter.connectors.dates import parse_time
from charter.connectors.skipping import guard
from charter.connectors.streaming import Rec
from charter.domain.batch import Skipped
from charter.domain.enums import IdentityKind
from charter.domain.estate import Grant, Identity

_OWNER_TAGS = ("owner", "Owner", "OWNER", "created-by", "CreatedBy", "createdBy", "contact")


def account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else ""


def resource_of(arn: str) -> str:
    """``arn:aws:iam::123:role/path/Name`` → ``role/path/Name``."""
    return arn.split(":", 5)[5] if arn.count(":") >= 5 else arn


@dataclass(frozen=True, slots=True)
class AccountExport:
    account: str
    origin: tuple[str, ...]
    details: Stream[tuple[str | None, Rec]]
    report: Stream[Rec]
    access_keys: Stream[Rec]
    functions: Stream[Rec]
    #: Bedrock agents and SageMaker notebooks, models and endpoints (a live pull reads them).
    ai_workloads: Stream[Rec] = field(default_factory=lambda: Stream.of(()))
    #: Warnings about parts of the account that could not be read (a live API that refused).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AwsRaw:
    accounts: tuple[AccountExport, ...]


@dataclass(slots=True)
class Context:
    """What the first pass learns: policies, groups, the action catalogue, side files."""

    account: str
    managed: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, list[AttachedPolicy]] = field(default_factory=dict)
    catalog: ActionCatalog = field(default_factory=ActionCatalog)
    report: dict[str, Rec] = field(default_factory=dict)  # user ARN → report row
    keys: dict[str, list[Rec]] = field(default_factory=dict)  # user name → key metadata
    functions: list[Rec] = field(default_factory=list)
    #: function ARN → (name, identity id) of the AI role that invokes it as a tool
    tools: dict[str, tuple[str, str]] = field(default_factory=dict)
    ai_workloads: list[Rec] = field(default_factory=list)
    #: role ARN → why it is AI-related: the Bedrock agent or SageMaker resource running as it
    ai_roles: dict[str, list[str]] = field(default_factory=dict)
    #: who can become whom, and each identity's shortest path to an administrator
    escalation: escalation.Escalation | None = None


def _tags(record: dict[str, Any]) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value", "")) for t in record.get("Tags") or []}


def _policies(
    record: dict[str, Any], inline_key: str, ctx: Context, where: str, via: str | None = None
) -> list[AttachedPolicy]:
    out = [
        AttachedPolicy(
            str(p.get("PolicyName")),
            "inline",
            load_document(p.get("PolicyDocument"), where=f"{where}.{inline_key}"),
            via,
        )
        for p in record.get(inline_key) or []
    ]
    for attached in record.get("AttachedManagedPolicies") or []:
        arn = str(attached.get("PolicyArn"))
        name, document = ctx.managed.get(arn, (str(attached.get("PolicyName")), {}))
        if document:
            out.append(AttachedPolicy(name, "managed", document, via))
    return out


def first_pass(export: AccountExport, skipped: Skipped | None = None) -> Context:
    """Learn policies, groups and side files; a malformed record is noted in ``skipped``."""
    skipped = Skipped() if skipped is None else skipped
    ctx = Context(export.account)
    extra: set[str] = set()
    raw_groups: list[Rec] = []
    ai_roles: list[Rec] = []
    principals: list[tuple[str, Rec]] = []
    other_versions: dict[str, list[dict[str, Any]]] = {}

    def learn(member: str | None, rec: Rec) -> None:
        data = rec.data
        if not isinstance(data, dict):
            raise rec.fail("expected an object")
        if member == "Policies":
            arn = str(require(rec, "Arn"))
            default = str(data.get("DefaultVersionId", ""))
            for version in data.get("PolicyVersionList") or []:
                if version.get("IsDefaultVersion") or version.get("VersionId") == default:
                    document = load_document(version.get("Document"), where=f"{rec.where}.Document")
                    ctx.managed[arn] = (str(data.get("PolicyName")), document)
                    extra.update(named_actions(document))
                elif version.get("Document"):
                    other_versions.setdefault(arn, []).append(
                        load_document(version.get("Document"), where=f"{rec.where}.Document")
                    )
        elif member == "GroupDetailList":
            raw_groups.append(rec)
        elif member in ("UserDetailList", "RoleDetailList"):
            for key in ("UserPolicyList", "RolePolicyList"):
                for p in data.get(key) or []:
                    extra.update(
                        named_actions(load_document(p.get("PolicyDocument"), where=rec.where))
                    )
            if member == "RoleDetailList":
                trust = load_document(data.get("AssumeRolePolicyDocument") or {}, where=rec.where)
                if ai_signals.aws_service_signal(trust_principals(trust, where=rec.where)):
                    ai_roles.append(rec)
            principals.append((member, rec))  # only a record that reads cleanly is analysed

    for member, rec in export.details:
        guard(rec, skipped, functools.partial(learn, member))
    ctx.catalog = ActionCatalog(extra)
    for rec in raw_groups:
        guard(rec, skipped, lambda r: _group(r, ctx))
    for rec in export.report:
        ctx.report[str(rec.data["arn"])] = rec
    for rec in export.access_keys:
        guard(
            rec, skipped, lambda r: ctx.keys.setdefault(str(require(r, "UserName")), []).append(r)
        )
    ctx.functions = [
        rec for rec in export.functions if guard(rec, skipped, _function_fields) is not None
    ]
    for rec in ai_roles:  # which Lambda functions do Bedrock/SageMaker-trusted roles invoke?
        for access in effective_access(
            _policies(rec.data, "RolePolicyList", ctx, rec.where), ctx.catalog, where=rec.where
        ):
            if "lambda:InvokeFunction" in access.actions:
                for function in ctx.functions:
                    arn = str(function.data.get("FunctionArn", ""))
                    if fnmatch.fnmatchcase(arn, access.resource) or fnmatch.fnmatchcase(
                        arn, access.resource + ":*"
                    ):
                        role_id = arn_identity_id(ctx.account, str(rec.data.get("Arn")))
                        ctx.tools.setdefault(arn, (str(rec.data.get("RoleName")), role_id))
    readable_groups = [rec for rec in raw_groups if str(rec.data.get("GroupName")) in ctx.groups]
    ctx.escalation = escalation.build(
        ctx.account,
        principals,
        readable_groups,
        ctx.managed,
        other_versions,
        ctx.functions or None,
        lambda data, key, where, via: _policies(data, key, ctx, where, via),
    )
    return ctx


def _group(rec: Rec, ctx: Context) -> None:
    name = str(require(rec, "GroupName"))
    ctx.groups[name] = _policies(rec.data, "GroupPolicyList", ctx, rec.where, f"group {name}")


def _function_fields(rec: Rec) -> str:
    require(rec, "FunctionName")
    return str(require(rec, "FunctionArn"))


def _owner(tags: dict[str, str]) -> tuple[str | None, float, list[str]]:
    for key in _OWNER_TAGS:
        if tags.get(key):
            return tags[key].strip().lower(), 0.8, [f"owner from tag {key}={tags[key]}"]
    return None, 0.0, []


def arn_identity_id(account: str, arn: str) -> str:
    return f"aws:{account}:{resource_of(arn)}"


def principal(rec: Rec, kind: str, ctx: Context) -> tuple[Identity, list[Grant]]:
    data = rec.data
    if not isinstance(data, dict):
        raise rec.fail("expected an object")
    name = str(require(rec, "UserName" if kind == "user" else "RoleName"))
    arn = str(require(rec, "Arn"))
    if account_of(arn) != ctx.account:
        raise rec.fail(
            f"belongs to account {account_of(arn)}, not {ctx.account}", field=f"{rec.where}.Arn"
        )
    identity_id = arn_identity_id(ctx.account, arn)
    tags = _tags(data)
    evidence: list[str] = []
    properties: dict[str, Any] = {"arn": arn, "path": data.get("Path", "/"), "tags": tags}
    policies = _policies(
        data, "UserPolicyList" if kind == "user" else "RolePolicyList", ctx, rec.where
    )
    last_used = None
    ai: list[str] = []
    trusted: list[str] = []
    if kind == "user":
        properties["groups"] = list(data.get("GroupList") or [])
        for group in properties["groups"]:
            policies += ctx.groups.get(str(group), [])
        last_used = _user_activity(ctx.report.get(arn), properties, ai)
    else:
        trust = load_document(data.get("AssumeRolePolicyDocument") or {}, where=rec.where)
        trusted = trust_principals(trust, where=rec.where)
        properties["trusted_principals"] = trusted
        properties["service_linked"] = str(data.get("Path", "")).startswith("/aws-service-role/")
        last = data.get("RoleLastUsed") or {}
        last_used = parse_time(last.get("LastUsedDate"), where=rec.where, field="RoleLastUsed")
        if last.get("Region"):
            properties["last_used_region"] = last["Region"]
        signal = ai_signals.aws_service_signal(trusted)
        if signal:
            ai.append(signal)
        ai += ctx.ai_roles.get(arn, [])
        for function in ctx.functions:
            if function.data.get("Role") == arn:
                fn_arn = str(function.data.get("FunctionArn"))
                if fn_arn in ctx.tools:
                    tool_of, tool_of_id = ctx.tools[fn_arn]
                    ai.append(
                        f"execution role of Lambda {function.data.get('FunctionName')}, "
                        f"a tool invoked by AI role {tool_of}"
                    )
                    properties["links"] = {"agent-tool-of": tool_of_id}
    boundary_doc = None
    boundary = data.get("PermissionsBoundary") or {}
    if boundary.get("PermissionsBoundaryArn"):
        properties["permissions_boundary"] = boundary["PermissionsBoundaryArn"]
        boundary_doc = ctx.managed.get(str(boundary["PermissionsBoundaryArn"]), ("", None))[1]
    accesses = effective_access(policies, ctx.catalog, boundary=boundary_doc, where=rec.where)
    properties["policies"] = sorted({p.describe() for p in policies})
    properties["admin"] = any(a.admin for a in accesses) and (
        ctx.escalation is None or identity_id in ctx.escalation.admins
    )
    escalates = ctx.escalation.summary(identity_id) if ctx.escalation else None
    if escalates:
        properties["escalation"] = escalates
    if any(p.startswith(("bedrock:", "sagemaker:Invoke")) for a in accesses for p in a.patterns):
        ai.append("its policies name Bedrock or SageMaker actions")
    for signal in (
        ai_signals.tag_signal(tags),
        ai_signals.name_signal(name, data.get("Description")),
    ):
        if signal:
            ai.append(signal)
    owner, confidence, owner_evidence = _owner(tags)
    evidence += ai + owner_evidence
    identity = Identity(
        id=identity_id,
        source="aws",
        account=ctx.account,
        kind=IdentityKind.CLOUD_USER if kind == "user" else IdentityKind.CLOUD_ROLE,
        name=name,
        system=f"aws:{ctx.account}",
        native_id=arn,
        owner=owner,
        owner_confidence=confidence,
        ai_related=bool(ai),
        created_at=parse_time(data.get("CreateDate"), where=rec.where, field="CreateDate"),
        last_used_at=last_used,
        evidence=tuple(evidence),
        properties=properties,
    )
    grants = [_grant(identity, access) for access in accesses]
    if ctx.escalation:
        grants += ctx.escalation.grants(identity_id, f"{kind} {name}")
    for principal in trusted:
        if (
            principal.startswith("arn:")
            and ":iam::" in principal
            and (":role/" in principal or ":user/" in principal)
        ):
            subject = arn_identity_id(account_of(principal), principal)
            grants.append(
                Grant(
                    id=f"{identity_id}#trust/{_short(principal)}",
                    source="aws",
                    account=ctx.account,
                    subject_type="identity",
                    subject=subject,
                    system=f"aws:{ctx.account}",
                    resource=arn,
                    permissions=("sts:AssumeRole",),
                    reason=f"the trust policy of role {name} "
                    f"lets {resource_of(principal)} assume it",
                    properties={"assumes": identity_id},
                )
            )
    return identity, grants


def _short(value: str) -> str:
    return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()[:12]


def _grant(identity: Identity, access: Access) -> Grant:
    actions = sorted(access.actions)
    if access.admin:
        what = "do anything (*)"
    else:
        what = ", ".join(actions[:3]) + (f" (+{len(actions) - 3} more)" if len(actions) > 3 else "")
    kind = identity.kind.value.replace("cloud_", "")
    via = "; ".join(access.via)
    reason = f"{kind} {identity.name} may {what} on {access.resource} through {via}"
    if access.conditional:
        reason += " (some statements have conditions)"
    return Grant(
        id=f"{identity.id}#grant/{_short(access.resource)}",
        source="aws",
        account=identity.account,
        subject_type="identity",
        subject=identity.id,
        system=identity.system,
        resource=access.resource,
        permissions=tuple(actions),
        reason=reason,
        properties={
            "patterns": sorted(access.patterns),
            "via": access.via,
            "admin": access.admin,
            "conditional": access.conditional,
            "not_resource": access.not_resource,
        },
    )


def _user_activity(row: Rec | None, properties: dict[str, Any], ai: list[str]) -> Any:
    if row is None:
        return None
    data = row.data
    used = parse_time(data["password_last_used"], where=row.where, field="password_last_used")
    properties["console_access"] = data["password_enabled"].lower() == "true"
    properties["password_last_used"] = used.isoformat() if used else None
    changed = parse_time(
        data["password_last_changed"], where=row.where, field="password_last_changed"
    )
    properties["password_last_changed"] = changed.isoformat() if changed else None
    properties["mfa_active"] = data["mfa_active"].lower() == "true"
    latest = used
    for n in (1, 2):
        when = parse_time(
            data[f"access_key_{n}_last_used_date"],
            where=row.where,
            field=f"access_key_{n}_last_used_date",
        )
        service = data[f"access_key_{n}_last_used_service"]
        if when and (latest is None or when > latest):
            latest = when
        if when and service in ai_signals.AI_AWS_SERVICES:
            ai.append(f"access key {n} was last used with {service} on {when:%Y-%m-%d}")
    return latest


def root(rec: Rec, ctx: Context) -> Identity:
    props: dict[str, Any] = {"arn": rec.data["arn"], "root": True}
    last = _user_activity(rec, props, [])
    return Identity(
        id=f"aws:{ctx.account}:root",
        source="aws",
        account=ctx.account,
        kind=IdentityKind.CLOUD_USER,
        name="root",
        system=f"aws:{ctx.account}",
        native_id=str(rec.data["arn"]),
        created_at=parse_time(
            rec.data["user_creation_time"], where=rec.where, field="user_creation_time"
        ),
        last_used_at=last,
        properties=props,
    )


def function(rec: Rec, ctx: Context) -> tuple[Identity, list[Grant]]:
    data = rec.data
    name = str(require(rec, "FunctionName"))
    arn = str(require(rec, "FunctionArn"))
    role = str(data.get("Role", ""))
    env_names = sorted((data.get("Environment") or {}).get("Variables", {}) or {})
    ai: list[str] = []
    links: dict[str, str] = {}
    if arn in ctx.tools:
        tool_of, tool_of_id = ctx.tools[arn]
        ai.append(f"a tool invoked by AI role {tool_of}")
        links["agent-tool-of"] = tool_of_id
    elif role:
        links["runs-as"] = arn_identity_id(account_of(role) or ctx.account, role)
    ai_env = [n for n in env_names if ai_signals.name_signal(n.replace("_", "-"))]
    if ai_env:
        ai.append(f"environment names {', '.join(ai_env)}")
    signal = ai_signals.name_signal(name, data.get("Description"))
    if signal:
        ai.append(signal)
    identity = Identity(
        id=f"aws:{ctx.account}:function/{name}",
        source="aws",
        account=ctx.account,
        kind=IdentityKind.WORKLOAD,
        name=name,
        system=f"aws:{ctx.account}",
        native_id=arn,
        ai_related=bool(ai),
        evidence=tuple(ai),
        created_at=None,
        properties={
            "arn": arn,
            "runtime": data.get("Runtime"),
            "role": role,
            "env_names": env_names,
            "agent_tool": arn in ctx.tools,
            "links": links,
            "last_modified": data.get("LastModified"),
        },
    )
    grants = [runs_as(identity.id, role, ctx, f"Lambda function {name}")] if role else []
    return identity, grants


def runs_as(identity_id: str, role: str, ctx: Context, what: str) -> Grant:
    """The grant of a workload (a Lambda function, a Bedrock agent) on the role it runs as."""
    return Grant(
        id=f"{identity_id}#runs-as",
        source="aws",
        account=ctx.account,
        subject_type="identity",
        subject=identity_id,
        system=f"aws:{ctx.account}",
        resource=role,
        permissions=("sts:AssumeRole",),
        reason=f"{what} runs as role {resource_of(role)}",
        properties={"assumes": arn_identity_id(account_of(role) or ctx.account, role)},
    )
