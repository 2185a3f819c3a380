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

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
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
from charter.connectors.entra_grants import (
    Ctx,
    app_role_grants,
    delegated_grant,
    learn_principal,
    learn_sign_ins,
)
from charter.connectors.skipping import each, flat, guard
from charter.connectors.streaming import Head, Rec
from charter.domain.batch import Batch, Skipped
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
@dataclass(frozen=True, slots=True)
class EntraRaw:
    applications: Stream[Rec]
    principals: Stream[Rec]
    grants: Stream[Rec]
    signins: Stream[Rec]
    organization: Stream[Rec]
    origin: tuple[str, ...]
    #: Exports of several tenants (one directory each): each is split into its own batch.
    parts: tuple[EntraRaw, ...] = ()


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
        by_dir: dict[Path, list[ExportFile]] = {}
        for file in files:  # one directory per tenant: each is split into its own batch
            by_dir.setdefault(file.path.parent, []).append(file)
        parts = tuple(_files_raw(group) for group in by_dir.values())
        return parts[0] if len(parts) == 1 else dataclasses.replace(_merge(parts), parts=parts)

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
        tenants: dict[str, list[EntraRaw]] = {}
        for part in raw.parts or (raw,):
            tenants.setdefault(_tenant_of(part), []).append(part)
        return [_tenant(tenant, _merge(tuple(parts))) for tenant, parts in tenants.items()]


def _files_raw(files: Sequence[ExportFile]) -> EntraRaw:
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


def _merge(parts: tuple[EntraRaw, ...]) -> EntraRaw:
    if len(parts) == 1:
        return parts[0]
    return EntraRaw(
        Stream.chain([p.applications for p in parts]),
        Stream.chain([p.principals for p in parts]),
        Stream.chain([p.grants for p in parts]),
        Stream.chain([p.signins for p in parts]),
        Stream.chain([p.organization for p in parts]),
        tuple(o for p in parts for o in p.origin),
    )


def _tenant_of(raw: EntraRaw) -> str:
    """The tenant of one directory's export: organization.json, else the apps' owner."""
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
    return tenant


def _tenant(tenant: str, raw: EntraRaw) -> Batch:
    system = f"entra:{tenant}"
    skipped = Skipped()
    contexts: list[Ctx] = []

    def ctx() -> Ctx:
        if not contexts:
            found = Ctx(tenant)
            for rec in raw.principals:
                guard(rec, skipped, lambda r: learn_principal(r, found))
            for rec in raw.signins:
                guard(rec, skipped, lambda r: learn_sign_ins(r, found))
            for rec in raw.applications:
                guard(
                    rec, skipped, lambda r: found.registered.update({str(require(r, "appId")): r})
                )
            contexts.append(found)
        return contexts[0]

    def identities() -> Iterator[Identity]:
        c = ctx()
        seen: set[str] = set()
        for rec in raw.principals:
            found = guard(
                rec, skipped, lambda r: _identity(_app_id(r), r, c.registered.get(_app_id(r)), c)
            )
            if found is not None:
                seen.add(_app_id(rec))
                yield found
        for app_id, rec in c.registered.items():
            if app_id not in seen:
                yield _identity(app_id, None, rec, c)

    def credentials() -> Iterator[Credential]:
        c = ctx()
        yield from flat(
            raw.applications, skipped, lambda r: _credentials(_app_id(r), r, "app registration", c)
        )
        yield from flat(
            raw.principals, skipped, lambda r: _credentials(_app_id(r), r, "service principal", c)
        )

    def grants() -> Iterator[Grant]:
        c = ctx()
        yield from flat(raw.principals, skipped, lambda r: app_role_grants(r, c, tenant, system))
        yield from each(raw.grants, skipped, lambda r: delegated_grant(r, c, tenant, system))

    return Batch(
        "entra",
        tenant,
        systems=[System(system, "entra", f"Entra tenant {tenant}")],
        identities=Stream(identities),
        credentials=Stream(credentials),
        grants=Stream(grants),
        origin=raw.origin,
        skipped=skipped,
    )


def _app_id(rec: Rec) -> str:
    return str(require(rec, "appId"))


def _owners(rec: Rec | None) -> list[str]:
    if rec is None:
        return []
    return [
        str(o.get("userPrincipalName") or o.get("mail")).lower()
        for o in rec.data.get("owners") or []
        if isinstance(o, dict) and (o.get("userPrincipalName") or o.get("mail"))
    ]


def _identity(app_id: str, sp: Rec | None, app: Rec | None, c: Ctx) -> Identity:
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


def _credentials(app_id: str, rec: Rec, held_by: str, c: Ctx) -> Iterator[Credential]:
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
