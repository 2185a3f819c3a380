"""Microsoft Entra ID: applications and service principals, their secrets and certificates,
owners, application permissions (app role assignments), delegated permission grants and
sign-in activity — all from Microsoft Graph JSON.

Graph list responses are ``{"@odata.context": …, "value": [...]}``; records are
streamed from ``value``. One identity per application id (``appId``) joins the
app registration (credentials, owners) and its service principal (role
assignments, grants, sign-ins). The tenant comes from ``organization.json`` or,
without it, from the service principals of the tenant's own app registrations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from charter.connectors import ai_signals
from charter.connectors.base import (
    Connector,
    ConnectorBase,
    ExportFile,
    ExportFormat,
    LiveApi,
    Stream,
    fingerprint,
    get_json,
    json_records,
    live_records,
    require,
)
from charter.connectors.dates import parse_time
from charter.connectors.streaming import Head, Rec
from charter.domain.batch import Batch
from charter.domain.credential_steps import CredentialRef
from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import InvalidInput

_REST = "az rest --method get --url "
GRAPH = "https://graph.microsoft.com"
APPLICATIONS = ExportFormat(
    "entra.applications",
    "Entra app registrations with owners (Graph)",
    f"{_REST}'{GRAPH}/v1.0/applications?$expand=owners' > applications.json",
    "applications.json",
)
PRINCIPALS = ExportFormat(
    "entra.service-principals",
    "Entra service principals with app role assignments (Graph)",
    f"{_REST}'{GRAPH}/v1.0/servicePrincipals?$expand=appRoleAssignments' > servicePrincipals.json",
    "servicePrincipals.json",
    required=True,
)
GRANTS = ExportFormat(
    "entra.oauth2-grants",
    "Entra delegated permission grants (Graph oauth2PermissionGrants)",
    f"{_REST}'{GRAPH}/v1.0/oauth2PermissionGrants' > oauth2PermissionGrants.json",
    "oauth2PermissionGrants.json",
)
SIGNINS = ExportFormat(
    "entra.sign-ins",
    "Entra service principal sign-in activity (Graph beta report)",
    f"{_REST}'{GRAPH}/beta/reports/servicePrincipalSignInActivities' > signInActivities.json",
    "signInActivities.json",
)
ORGANIZATION = ExportFormat(
    "entra.organization",
    "Entra tenant (Graph organization)",
    f"{_REST}'{GRAPH}/v1.0/organization' > organization.json",
    "organization.json",
)
#: Application permissions that amount to tenant or mailbox-wide control.
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


@dataclass(frozen=True, slots=True)
class EntraRaw:
    applications: Stream[Rec]
    principals: Stream[Rec]
    grants: Stream[Rec]
    signins: Stream[Rec]
    organization: Stream[Rec]
    origin: tuple[str, ...]


@dataclass(slots=True)
class _Ctx:
    tenant: str
    app_of_sp: dict[str, str] = field(default_factory=dict)  # SP object id → appId
    names: dict[str, str] = field(default_factory=dict)  # SP object id → display name
    roles: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # resource SP id → role id → value
    last_sign_in: dict[str, Any] = field(default_factory=dict)  # appId → time
    registered: dict[str, Rec] = field(default_factory=dict)  # appId → app registration (small)


class EntraConnector(ConnectorBase[EntraRaw]):
    id = "entra"
    title = "Microsoft Entra ID"
    formats = (PRINCIPALS, APPLICATIONS, GRANTS, SIGNINS, ORGANIZATION)
    needs = ("Application.Read.All", "Directory.Read.All", "AuditLog.Read.All (sign-in activity)")
    live_api = LiveApi(
        base_url=f"{GRAPH}/v1.0",
        target="the tenant id (or 'organizations' to take it from the token)",
        credential_env="CHARTER_GRAPH_TOKEN",
        docs="https://learn.microsoft.com/graph/api/resources/serviceprincipal",
    )

    reports_last_use = True
    providers = ("entra", "azure", "microsoft")

    def rotation_steps(self, credential: CredentialRef) -> list[str] | None:
        if credential.provider not in self.providers:
            return None
        if credential.kind not in ("client_secret", "certificate"):
            return None
        app = credential.properties.get("held_by") or credential.holder
        return [
            f"az ad app credential reset --id {app} --append --display-name rotated "
            "--years 0 --end-date $(date -d '+90 days' +%Y-%m-%d)",
            "Store the new secret in Key Vault and redeploy the agent.",
            f"az ad app credential delete --id {app} --key-id {credential.key_id}",
            "Better: a federated identity credential or a managed identity (no secret at all).",
        ]

    def sniff(self, head: Head) -> ExportFormat | None:
        first = head.first if isinstance(head.first, dict) else {}
        if head.first_member != "value" or not first:
            return None
        if "servicePrincipalType" in first and "appId" in first:
            return PRINCIPALS
        if "appId" in first and "signInAudience" in first:
            return APPLICATIONS
        if "consentType" in first and "clientId" in first:
            return GRANTS
        if "appId" in first and any(k.endswith("SignInActivity") for k in first):
            return SIGNINS
        if "verifiedDomains" in first and "id" in first:
            return ORGANIZATION
        return None

    def fetch(self, files: Sequence[ExportFile]) -> EntraRaw:
        def pick(fmt: ExportFormat) -> Stream[Rec]:
            return Stream.chain([json_records(f.path, "value") for f in files if f.format is fmt])

        return EntraRaw(
            pick(APPLICATIONS),
            pick(PRINCIPALS),
            pick(GRANTS),
            pick(SIGNINS),
            pick(ORGANIZATION),
            tuple(str(f.path) for f in files),
        )

    def fetch_live(self, client: httpx.Client, target: str) -> EntraRaw:
        def paged(url: str) -> Iterator[tuple[str, Any]]:
            next_url: str | None = url
            while next_url:
                body, _ = get_json(client, next_url)
                yield next_url, body
                next_url = body.get("@odata.nextLink")

        def stream(path: str) -> Stream[Rec]:
            return live_records(lambda: paged(f"{GRAPH}{path}"), lambda b: b.get("value") or [])

        return EntraRaw(
            stream("/v1.0/applications?$expand=owners"),
            stream("/v1.0/servicePrincipals?$expand=appRoleAssignments"),
            stream("/v1.0/oauth2PermissionGrants"),
            stream("/beta/reports/servicePrincipalSignInActivities"),
            stream("/v1.0/organization"),
            (f"{GRAPH} tenant {target}",),
        )

    def normalize(self, raw: EntraRaw) -> list[Batch]:
        tenant = next((str(require(r, "id")) for r in raw.organization), None)
        if tenant is None:
            own = {str(r.data.get("appId")) for r in raw.applications}
            owners = Counter(
                str(r.data.get("appOwnerOrganizationId"))
                for r in raw.principals
                if str(r.data.get("appId")) in own and r.data.get("appOwnerOrganizationId")
            )
            if not owners:
                raise InvalidInput(
                    f"cannot tell the tenant: add organization.json ({ORGANIZATION.command})",
                    field="path",
                )
            tenant = owners.most_common(1)[0][0]
        return [_tenant(tenant, raw)]


def _tenant(tenant: str, raw: EntraRaw) -> Batch:
    system = f"entra:{tenant}"
    contexts: list[_Ctx] = []

    def ctx() -> _Ctx:
        if not contexts:
            found = _Ctx(tenant)
            for rec in raw.principals:
                sp_id = str(require(rec, "id"))
                found.app_of_sp[sp_id] = str(require(rec, "appId"))
                found.names[sp_id] = str(rec.data.get("displayName") or sp_id)
                roles = {
                    str(r.get("id")): str(r.get("value")) for r in rec.data.get("appRoles") or []
                }
                if roles:
                    found.roles[sp_id] = roles
            for rec in raw.signins:
                times = [
                    parse_time((v or {}).get("lastSignInDateTime"), where=rec.where, field=k)
                    for k, v in rec.data.items()
                    if k.endswith("SignInActivity") and isinstance(v, dict)
                ]
                known = [t for t in times if t]
                if known:
                    found.last_sign_in[str(require(rec, "appId"))] = max(known)
            for rec in raw.applications:
                found.registered[str(require(rec, "appId"))] = rec
            contexts.append(found)
        return contexts[0]

    def identities() -> Iterator[Identity]:
        c = ctx()
        seen: set[str] = set()
        for rec in raw.principals:
            app_id = str(rec.data["appId"])
            seen.add(app_id)
            yield _identity(app_id, rec, c.registered.get(app_id), c)
        for app_id, rec in c.registered.items():
            if app_id not in seen:
                yield _identity(app_id, None, rec, c)

    def credentials() -> Iterator[Credential]:
        c = ctx()
        for rec in raw.applications:
            yield from _credentials(str(rec.data["appId"]), rec, "app registration", c)
        for rec in raw.principals:
            yield from _credentials(str(rec.data["appId"]), rec, "service principal", c)

    def grants() -> Iterator[Grant]:
        c = ctx()
        for rec in raw.principals:
            app_id = str(rec.data["appId"])
            name = str(rec.data.get("displayName") or app_id)
            by_resource: dict[str, list[str]] = {}
            for assignment in rec.data.get("appRoleAssignments") or []:
                resource = str(assignment.get("resourceId"))
                value = c.roles.get(resource, {}).get(
                    str(assignment.get("appRoleId")), "(default access)"
                )
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
        for rec in raw.grants:
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
            yield Grant(
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

    return Batch(
        "entra",
        tenant,
        systems=[System(system, "entra", f"Entra tenant {tenant}")],
        identities=Stream(identities),
        credentials=Stream(credentials),
        grants=Stream(grants),
        origin=raw.origin,
    )


def _owners(rec: Rec | None) -> list[str]:
    if rec is None:
        return []
    return [
        str(o.get("userPrincipalName") or o.get("mail")).lower()
        for o in rec.data.get("owners") or []
        if isinstance(o, dict) and (o.get("userPrincipalName") or o.get("mail"))
    ]


def _identity(app_id: str, sp: Rec | None, app: Rec | None, c: _Ctx) -> Identity:
    rec = sp or app
    assert rec is not None
    data = rec.data
    name = str(data.get("displayName") or app_id)
    sp_type = str((sp.data if sp else {}).get("servicePrincipalType") or "Application")
    own_tenant = app is not None or (
        sp is not None and sp.data.get("appOwnerOrganizationId") == c.tenant
    )
    kind = (
        IdentityKind.WORKLOAD
        if sp_type == "ManagedIdentity"
        else (IdentityKind.SERVICE_ACCOUNT if own_tenant else IdentityKind.OAUTH_APP)
    )
    owners = _owners(app) or _owners(sp)
    evidence = []
    signal = ai_signals.name_signal(
        name, data.get("description"), (sp.data if sp else {}).get("publisherName")
    )
    if signal:
        evidence.append(signal)
    tags = (sp.data if sp else {}).get("tags") or []
    if owners:
        evidence.append(f"owner(s) in Entra: {', '.join(owners)}")
    return Identity(
        id=f"entra:{c.tenant}:app/{app_id}",
        source="entra",
        account=c.tenant,
        kind=kind,
        name=name,
        system=f"entra:{c.tenant}",
        native_id=app_id,
        owner=owners[0] if owners else None,
        owner_confidence=0.9 if owners else 0.0,
        ai_related=bool(signal),
        created_at=parse_time(
            (app.data if app else data).get("createdDateTime"),
            where=rec.where,
            field="createdDateTime",
        ),
        last_used_at=c.last_sign_in.get(app_id),
        evidence=tuple(evidence),
        properties={
            "service_principal_id": sp.data.get("id") if sp else None,
            "application_object_id": app.data.get("id") if app else None,
            "type": sp_type,
            "third_party": not own_tenant,
            "owners": owners,
            "publisher": (sp.data if sp else {}).get("publisherName"),
            "enabled": (sp.data if sp else {}).get("accountEnabled", True),
            "sp_tags": tags,
        },
    )


def _credentials(app_id: str, rec: Rec, held_by: str, c: _Ctx) -> Iterator[Credential]:
    identity = f"entra:{c.tenant}:app/{app_id}"
    for secret in rec.data.get("passwordCredentials") or []:
        key_id = str(secret.get("keyId") or "")
        if not key_id:
            raise rec.fail(
                "a passwordCredential has no keyId", field=f"{rec.where}.passwordCredentials"
            )
        yield Credential(
            id=f"entra:{c.tenant}:secret/{key_id}",
            source="entra",
            account=c.tenant,
            kind=CredentialKind.CLIENT_SECRET,
            provider="entra",
            fingerprint=fingerprint(f"entra-secret:{key_id}"),
            preview=f"{secret.get('hint') or ''}…({secret.get('displayName') or key_id[:8]})",
            identity=identity,
            created_at=parse_time(
                secret.get("startDateTime"), where=rec.where, field="startDateTime"
            ),
            expires_at=parse_time(secret.get("endDateTime"), where=rec.where, field="endDateTime"),
            location=f"{held_by} {rec.data.get('displayName')} ({app_id})",
            properties={
                "display_name": secret.get("displayName"),
                "held_by": held_by,
                "key_id": key_id,
            },
        )
    for cert in rec.data.get("keyCredentials") or []:
        key_id = str(cert.get("keyId") or "")
        if not key_id:
            raise rec.fail("a keyCredential has no keyId", field=f"{rec.where}.keyCredentials")
        thumb = str(cert.get("customKeyIdentifier") or key_id)
        yield Credential(
            id=f"entra:{c.tenant}:certificate/{key_id}",
            source="entra",
            account=c.tenant,
            kind=CredentialKind.CERTIFICATE,
            provider="entra",
            fingerprint=fingerprint(f"entra-cert:{thumb}"),
            preview=f"thumbprint …{thumb[-8:]}",
            identity=identity,
            created_at=parse_time(
                cert.get("startDateTime"), where=rec.where, field="startDateTime"
            ),
            expires_at=parse_time(cert.get("endDateTime"), where=rec.where, field="endDateTime"),
            location=f"{held_by} {rec.data.get('displayName')} ({app_id})",
            properties={"usage": cert.get("usage"), "type": cert.get("type"), "held_by": held_by},
        )


CONNECTOR: Connector[EntraRaw] = EntraConnector()
