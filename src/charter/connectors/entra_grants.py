"""What an Entra tenant's service principals hold: the first pass and the grants it maps.

Application permissions (app role assignments: the app acts with no user) and
delegated OAuth2 permission grants (for one user, or every user after admin
consent) become grants; a high-privilege permission marks the grant admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from charter.connectors.base import require
from charter.connectors.dates import parse_time
from charter.connectors.streaming import Rec
from charter.domain.estate import Grant

HIGH_PRIVILEGE = frozenset(
    {
        "Directory.ReadWrite.All",
        "RoleManagement.ReadWrite.Directory",
        "AppRoleAssignment.ReadWrite.All",
        "Application.ReadWrite.All",
        "Mail.ReadWrite",
        "Mail.Send",
        "Files.ReadWrite.All",
        "Sites.FullControl.All",
        "User.ReadWrite.All",
        "Group.ReadWrite.All",
    }
)


@dataclass(slots=True)
class Ctx:
    tenant: str
    app_of_sp: dict[str, str] = field(default_factory=dict)  # SP object id → appId
    names: dict[str, str] = field(default_factory=dict)  # SP object id → display name
    roles: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # resource SP id → role id → value
    last_sign_in: dict[str, Any] = field(default_factory=dict)  # appId → time
    registered: dict[str, Rec] = field(default_factory=dict)  # appId → app registration (small)


def learn_principal(rec: Rec, found: Ctx) -> None:
    sp_id = str(require(rec, "id"))
    found.app_of_sp[sp_id] = str(require(rec, "appId"))
    found.names[sp_id] = str(rec.data.get("displayName") or sp_id)
    roles = {str(r.get("id")): str(r.get("value")) for r in rec.data.get("appRoles") or []}
    if roles:
        found.roles[sp_id] = roles


def learn_sign_ins(rec: Rec, found: Ctx) -> None:
    times = [
        parse_time((v or {}).get("lastSignInDateTime"), where=rec.where, field=k)
        for k, v in rec.data.items()
        if k.endswith("SignInActivity") and isinstance(v, dict)
    ]
    known = [t for t in times if t]
    if known:
        found.last_sign_in[str(require(rec, "appId"))] = max(known)


def app_role_grants(rec: Rec, c: Ctx, tenant: str, system: str) -> Iterator[Grant]:
    app_id = str(rec.data["appId"])
    name = str(rec.data.get("displayName") or app_id)
    by_resource: dict[str, list[str]] = {}
    for assignment in rec.data.get("appRoleAssignments") or []:
        resource = str(assignment.get("resourceId"))
        value = c.roles.get(resource, {}).get(str(assignment.get("appRoleId")), "(default access)")
        by_resource.setdefault(resource, []).append(value)
    for resource, values in sorted(by_resource.items()):
        target = c.names.get(resource, resource)
        high = sorted(set(values) & HIGH_PRIVILEGE)
        yield Grant(
            id=f"entra:{tenant}:app/{app_id}#approle/{resource}",
            source="entra",
            account=tenant,
            subject_type="identity",
            subject=f"entra:{tenant}:app/{app_id}",
            system=system,
            resource=target,
            permissions=tuple(sorted(set(values))),
            reason=f"{name} holds application permission(s) "
            f"{', '.join(sorted(set(values))[:4])} "
            f"on {target}: it acts without any signed-in user",
            properties={"type": "application", "high_privilege": high, "admin": bool(high)},
        )


def delegated_grant(rec: Rec, c: Ctx, tenant: str, system: str) -> Grant:
    client = str(require(rec, "clientId"))
    client_app = c.app_of_sp.get(client)
    if client_app is None:
        raise rec.fail(
            f"clientId {client} is not a service principal in the export",
            field=f"{rec.where}.clientId",
        )
    scopes = sorted(str(rec.data.get("scope") or "").split())
    resource = c.names.get(str(rec.data.get("resourceId")), str(rec.data.get("resourceId")))
    everyone = rec.data.get("consentType") == "AllPrincipals"
    principal = rec.data.get("principalId")
    return Grant(
        id=f"entra:{tenant}:oauth2grant/{require(rec, 'id')}",
        source="entra",
        account=tenant,
        subject_type="identity",
        subject=f"entra:{tenant}:app/{client_app}",
        system=system,
        resource=resource,
        permissions=tuple(scopes),
        reason=f"{c.names.get(client, client)} may use delegated scope(s) "
        f"{', '.join(scopes[:4])} "
        f"on {resource} "
        + ("for every user (admin consent)" if everyone else f"for user {principal}"),
        properties={
            "type": "delegated",
            "consent": rec.data.get("consentType"),
            "principal": principal,
            "admin": everyone and bool(set(scopes) & HIGH_PRIVILEGE),
        },
    )
