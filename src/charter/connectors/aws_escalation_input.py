"""From the export's records to the escalation analysis, and its result back to the estate.

:func:`build` is called once per account, after the first pass has learnt the
managed policies and groups; :class:`Escalation` then answers, per identity,
the escalation edges that leave it (stored as grants with an
``escalates_to`` property, so the map draws them) and its shortest path to
an administrator (stored in the identity's ``escalation`` property, which
the ``privilege-escalation`` rule reads).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from charter.connectors.aws_escalation import analyse
from charter.connectors.aws_eval import PolicySet
from charter.connectors.aws_policy import AttachedPolicy, load_document
from charter.connectors.aws_techniques import ADMIN_PROBES, Account, Group, Principal, trust_rules
from charter.connectors.streaming import Rec
from charter.domain.escalation import ADMIN, EscalationEdge, EscalationPath
from charter.domain.estate import Grant

PoliciesOf = Callable[[dict[str, Any], str, str, str | None], list[AttachedPolicy]]


def _identity_id(account: str, arn: str) -> str:
    return f"aws:{account}:{arn.split(':', 5)[5] if arn.count(':') >= 5 else arn}"


@dataclass(slots=True)
class Escalation:
    account: str
    edges: dict[str, list[EscalationEdge]] = field(default_factory=dict)
    paths: dict[str, EscalationPath] = field(default_factory=dict)
    admins: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    wider: dict[str, tuple[EscalationEdge, tuple[str, ...]]] = field(default_factory=dict)

    def summary(self, identity_id: str) -> dict[str, Any] | None:
        path = self.paths.get(identity_id)
        if path is not None:
            return {**path.to_dict(self.names), "reaches": "admin"}
        wider = self.wider.get(identity_id)
        if wider is None:
            return None
        edge, gains = wider
        step = EscalationPath(identity_id, (edge,), edge.target)
        out = step.to_dict(self.names)
        target = self.names.get(edge.target, edge.target)
        out["summary"] = (
            f"{self.names.get(identity_id, identity_id)} -> {target} "
            f"(more privileged: {', '.join(gains[:6])}{' …' if len(gains) > 6 else ''})"
        )
        return {**out, "reaches": "more-privileged", "gains": list(gains)}

    def grants(self, identity_id: str, name: str) -> list[Grant]:
        out = []
        for edge in self.edges.get(identity_id, []):
            target = edge.target
            wider = self.wider.get(identity_id)
            if (
                target != ADMIN
                and target not in self.admins
                and target not in self.paths
                and (wider is None or wider[0] is not edge)
            ):
                continue  # the identity it becomes can do no more harm: kept out of the store
            digest = hashlib.sha1(
                f"{edge.technique}|{target}".encode(), usedforsecurity=False
            ).hexdigest()[:12]
            out.append(
                Grant(
                    id=f"{identity_id}#escalation/{digest}",
                    source="aws",
                    account=self.account,
                    subject_type="identity",
                    subject=identity_id,
                    system=f"aws:{self.account}",
                    resource="*" if target == ADMIN else self.arns.get(target, target),
                    permissions=edge.actions,
                    reason=f"{name} {edge.reason}",
                    properties={
                        "escalation": edge.technique,
                        "escalates_to": None if target == ADMIN else target,
                        "becomes_admin": target == ADMIN or target in self.admins,
                        "assumptions": list(edge.assumptions),
                    },
                )
            )
        return out


def build(
    account: str,
    principals: Sequence[tuple[str, Rec]],
    groups: Sequence[Rec],
    managed: dict[str, tuple[str, dict[str, Any]]],
    other_versions: dict[str, list[dict[str, Any]]],
    functions: Sequence[Rec] | None,
    policies_of: PoliciesOf,
    *,
    now: dt.datetime | None = None,
) -> Escalation:
    """Analyse one account's principals (``(member, record)`` pairs from the export)."""
    moment = now or dt.datetime.now(dt.UTC)
    group_objs: list[Group] = []
    group_managed: dict[str, list[str]] = {}
    group_policies: dict[str, list[AttachedPolicy]] = {}
    for rec in groups:
        data = rec.data
        name = str(data.get("GroupName"))
        policies = policies_of(data, "GroupPolicyList", rec.where, f"group {name}")
        group_policies[name] = policies
        group_managed[name] = [
            str(a.get("PolicyArn")) for a in data.get("AttachedManagedPolicies") or []
        ]
        arn = str(data.get("Arn") or f"arn:aws:iam::{account}:group/{name}")
        group_objs.append(Group(name, arn, PolicySet.of(policies)))
    out = Escalation(account)
    objs: list[Principal] = []
    for member, rec in principals:
        data = rec.data
        kind = "user" if member == "UserDetailList" else "role"
        name = str(data.get("UserName" if kind == "user" else "RoleName"))
        arn = str(data.get("Arn"))
        if arn.split(":")[4:5] != [account]:
            continue
        policies = policies_of(
            data, "UserPolicyList" if kind == "user" else "RolePolicyList", rec.where, None
        )
        attached = [str(a.get("PolicyArn")) for a in data.get("AttachedManagedPolicies") or []]
        member_of = tuple(str(g) for g in data.get("GroupList") or [])
        for group in member_of:
            policies += group_policies.get(group, [])
            attached += group_managed.get(group, [])
        boundary_arn = (data.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        boundary = managed.get(str(boundary_arn), ("", None))[1] if boundary_arn else None
        identity_id = _identity_id(account, arn)
        out.names[identity_id] = f"{kind} {name}"
        out.arns[identity_id] = arn
        objs.append(
            Principal(
                id=identity_id,
                kind=kind,
                name=name,
                arn=arn,
                policies=PolicySet.of(policies, boundary=boundary),
                tags={str(t.get("Key")): str(t.get("Value", "")) for t in data.get("Tags") or []},
                groups=member_of,
                managed=tuple(a for a in attached if ":iam::aws:policy/" not in a),
                trust=trust_rules(
                    load_document(data.get("AssumeRolePolicyDocument") or {}, where=rec.where)
                )
                if kind == "role"
                else [],
                instance_profile=bool(data.get("InstanceProfileList")),
                service_linked=str(data.get("Path", "")).startswith("/aws-service-role/"),
            )
        )
    admin_versions = frozenset(
        arn
        for arn, documents in other_versions.items()
        if any(_grants_admin(d, moment) for d in documents)
    )
    fns = None
    if functions:
        fns = [
            (
                str(f.data.get("FunctionArn")),
                str(f.data.get("FunctionName")),
                str(f.data.get("Role", "")),
            )
            for f in functions
        ]
    graph = analyse(Account(account, objs, group_objs, admin_versions, fns), moment)
    out.admins = set(graph.admins)
    out.edges = graph.from_source()
    out.paths = graph.paths_to_admin()
    out.wider = graph.wider
    return out


def _grants_admin(document: dict[str, Any], now: dt.datetime) -> bool:
    policies = PolicySet.of([AttachedPolicy("version", "managed", document)])
    return all(policies.check(a, "*", {}, now=now).allowed for a in ADMIN_PROBES)
