"""Okta: API tokens and OAuth 2.0 service apps with their granted Okta API scopes.

Reads the Management API's JSON (``/api/v1/api-tokens``, ``/api/v1/apps``,
``/api/v1/apps/{id}/grants``, optionally ``/api/v1/users`` to turn user ids
into e-mail addresses and ``/api/v1/apps/{id}/credentials/secrets``). The org
domain comes from the records' own ``_links`` / ``issuer``.

An API token acts with the permissions of the administrator who created it and
stays valid while used: it expires after ``tokenWindow`` of inactivity, so its
last use is ``expiresAt − tokenWindow`` (Okta documents the rolling window).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
from charter.connectors.scopes import placed
from charter.connectors.skipping import each, flat, guard
from charter.connectors.streaming import Head, Rec
from charter.domain.batch import Batch, Skipped
from charter.domain.credential_steps import CredentialRef
from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import InvalidInput

_CURL = 'curl -s -H "Authorization: SSWS $OKTA_API_TOKEN" "https://$OKTA_DOMAIN'
TOKENS = ExportFormat(
    "okta.api-tokens",
    "Okta API tokens",
    f'{_CURL}/api/v1/api-tokens" > api-tokens.json',
    "api-tokens.json",
)
APPS = ExportFormat(
    "okta.apps", "Okta applications", f'{_CURL}/api/v1/apps?limit=200" > apps.json', "apps.json"
)
GRANTS = ExportFormat(
    "okta.app-grants",
    "Okta API scope grants of apps",
    "for a in $(jq -r '.[].id' apps.json); do "
    + f'{_CURL}/api/v1/apps/$a/grants"; done > app-grants.json',
    "app-grants.json",
)
USERS = ExportFormat(
    "okta.users",
    "Okta users (to name token creators)",
    f'{_CURL}/api/v1/users?limit=200" > users.json',
    "users.json",
)
_DURATION = re.compile(r"^PT?(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?$")


def _window(value: Any) -> dt.timedelta | None:
    """Okta writes the inactivity window as ``PT30D`` (ISO 8601 would say ``P30D``)."""
    match = _DURATION.match(str(value or ""))
    if not match or not any(match.groups()):
        return None
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return dt.timedelta(days=days, hours=hours, minutes=minutes)


def _domain(rec: Rec) -> str:
    data = rec.data
    for key in ("_links", "_link"):
        links = data.get(key) or {}
        for link in links.values() if isinstance(links, dict) else []:
            href = link.get("href") if isinstance(link, dict) else None
            if href and urlsplit(str(href)).hostname:
                return str(urlsplit(str(href)).hostname)
    if data.get("issuer"):
        return str(urlsplit(str(data["issuer"])).hostname)
    raise rec.fail("cannot tell the Okta org: no _links or issuer in the record")


@dataclass(frozen=True, slots=True)
class OktaRaw:
    tokens: Stream[Rec]
    apps: Stream[Rec]
    grants: Stream[Rec]
    users: Stream[Rec]
    origin: tuple[str, ...]


@dataclass(slots=True)
class _Ctx:
    logins: dict[str, str] = field(default_factory=dict)  # user id → login (e-mail)
    scopes: dict[str, list[tuple[str, str]]] = field(
        default_factory=dict
    )  # client id → (scope, created)


def _is_service_app(data: dict[str, Any]) -> bool:
    oauth = (data.get("settings") or {}).get("oauthClient") or {}
    return oauth.get("application_type") == "service" or "client_credentials" in (
        oauth.get("grant_types") or []
    )


class OktaConnector(ConnectorBase[OktaRaw]):
    id = "okta"
    title = "Okta"
    formats = (TOKENS, APPS, GRANTS, USERS)
    needs = ("okta.apiTokens.read", "okta.apps.read", "okta.users.read (read-only admin)")
    live_api = LiveApi(
        base_url="https://<org>.okta.com/api/v1",
        target="the Okta domain (acme.okta.com)",
        credential_env="CHARTER_OKTA_TOKEN",
        docs="https://developer.okta.com/docs/api/openapi/okta-management/management/",
        scheme="SSWS",  # Okta API tokens use their own scheme, not Bearer
    )

    providers = ("okta",)

    def rotation_steps(self, credential: CredentialRef) -> list[str] | None:
        if credential.provider not in self.providers:
            return None
        return [
            "Create a new API token as a dedicated service user (Security → API → Tokens).",
            "Store it where the agent reads it and redeploy.",
            f"Revoke the old token {credential.key_id} in the same page.",
            "Better: an OAuth 2.0 service app with private_key_jwt and scoped grants.",
        ]

    def sniff(self, head: Head) -> ExportFormat | None:
        first = head.first if isinstance(head.first, dict) else {}
        if head.first_member is not None or not first:
            return None
        if "tokenWindow" in first or ("clientName" in first and "userId" in first):
            return TOKENS
        if "signOnMode" in first and "credentials" in first:
            return APPS
        if "scopeId" in first and "clientId" in first:
            return GRANTS
        if (
            isinstance(first.get("profile"), dict)
            and "login" in first["profile"]
            and "status" in first
        ):
            return USERS
        return None

    def fetch(self, files: Sequence[ExportFile]) -> OktaRaw:
        def pick(fmt: ExportFormat) -> Stream[Rec]:
            return Stream.chain([json_records(f.path) for f in files if f.format is fmt])

        return OktaRaw(
            pick(TOKENS), pick(APPS), pick(GRANTS), pick(USERS), tuple(str(f.path) for f in files)
        )

    def fetch_live(self, client: httpx.Client, target: str) -> OktaRaw:
        base = f"https://{target}/api/v1"

        def paged(url: str) -> Iterator[tuple[str, Any]]:
            next_url: str | None = url
            while next_url:
                body, response = get_json(client, next_url)
                yield next_url, body
                next_url = response.links.get("next", {}).get("url")

        def grants() -> Iterator[tuple[str, Any]]:
            for _url, apps in paged(f"{base}/apps?limit=200"):
                for app in apps:
                    if _is_service_app(app):
                        yield from paged(f"{base}/apps/{app['id']}/grants")

        return OktaRaw(
            live_records(lambda: paged(f"{base}/api-tokens"), lambda b: b),
            live_records(lambda: paged(f"{base}/apps?limit=200"), lambda b: b),
            live_records(grants, lambda b: b),
            live_records(lambda: paged(f"{base}/users?limit=200"), lambda b: b),
            (base,),
        )

    def normalize(self, raw: OktaRaw) -> list[Batch]:
        domains: dict[str, None] = {}
        for stream in (raw.tokens, raw.apps):
            for rec in stream:
                domains[_owner(rec)] = None
        if not domains:
            raise InvalidInput("the Okta export holds no API tokens or apps", field="path")
        domains.pop("", None)  # a record naming no org: skipped in the first org's batch
        if not domains:
            raise InvalidInput(
                "cannot tell the Okta org: no record has _links or issuer", field="path"
            )
        return [_org(domain, raw, home=n == 0) for n, domain in enumerate(domains)]


def _owner(rec: Rec) -> str:
    """The org a record belongs to, or "" when it cannot be told."""
    try:
        return _domain(rec) if isinstance(rec.data, dict) else ""
    except InvalidInput:
        return ""


def _org(domain: str, raw: OktaRaw, *, home: bool) -> Batch:
    system = f"okta:{domain}"
    skipped = Skipped()
    contexts: list[_Ctx] = []
    tokens = placed(raw.tokens, domain, _owner, home=home)
    apps = placed(raw.apps, domain, _owner, home=home)

    def ctx() -> _Ctx:
        if not contexts:
            found = _Ctx()
            for rec in placed(raw.users, domain, _owner, home=False):
                guard(rec, skipped, functools.partial(_learn_user, found=found))
            for rec in placed(raw.grants, domain, _owner, home=False):
                guard(rec, skipped, functools.partial(_learn_grant, found=found))
            contexts.append(found)
        return contexts[0]

    def service_apps() -> Iterator[Rec]:
        for rec in apps:
            if not isinstance(rec.data, dict) or _is_service_app(rec.data) or not _owner(rec):
                yield rec  # (a malformed one is skipped by name when mapped)

    def identities() -> Iterator[Identity]:
        yield from each(tokens, skipped, lambda r: _token(_placeable(r), domain, ctx())[0])
        yield from each(service_apps(), skipped, lambda r: _app(_placeable(r), domain, ctx())[0])

    def credentials() -> Iterator[Credential]:
        yield from each(tokens, skipped, lambda r: _token(_placeable(r), domain, ctx())[1])
        yield from flat(service_apps(), skipped, lambda r: _app(_placeable(r), domain, ctx())[1])

    def grants() -> Iterator[Grant]:
        yield from each(tokens, skipped, lambda r: _token(_placeable(r), domain, ctx())[2])
        for grant in each(service_apps(), skipped, lambda r: _app(_placeable(r), domain, ctx())[2]):
            if grant:
                yield grant

    return Batch(
        "okta",
        domain,
        systems=[System(system, "okta", f"Okta org {domain}")],
        identities=Stream(identities),
        credentials=Stream(credentials),
        grants=Stream(grants),
        origin=raw.origin,
        skipped=skipped,
    )


def _placeable(rec: Rec) -> Rec:
    """``rec``, or the error that it names no org (it was kept for the first org to skip)."""
    _domain(rec)
    return rec


def _learn_user(rec: Rec, found: _Ctx) -> None:
    found.logins[str(rec.data.get("id"))] = str(
        (rec.data.get("profile") or {}).get("login", "")
    ).lower()


def _learn_grant(rec: Rec, found: _Ctx) -> None:
    if rec.data.get("status", "ACTIVE") == "ACTIVE":
        found.scopes.setdefault(str(require(rec, "clientId")), []).append(
            (str(require(rec, "scopeId")), str(rec.data.get("created", "")))
        )


def _token(rec: Rec, domain: str, ctx: _Ctx) -> tuple[Identity, Credential, Grant]:
    data = rec.data
    token_id = str(require(rec, "id"))
    name = str(data.get("name") or token_id)
    user_id = str(data.get("userId") or "")
    login = ctx.logins.get(user_id) or None
    created = parse_time(data.get("created"), where=rec.where, field="created")
    expires = parse_time(data.get("expiresAt"), where=rec.where, field="expiresAt")
    window = _window(data.get("tokenWindow"))
    last_used = expires - window if expires and window else None
    signal = ai_signals.name_signal(name, data.get("clientName"))
    network = (data.get("network") or {}).get("connection", "ANYWHERE")
    identity_id = f"okta:{domain}:api-token/{token_id}"
    identity = Identity(
        id=identity_id,
        source="okta",
        account=domain,
        kind=IdentityKind.API_KEY_HOLDER,
        name=name,
        system=f"okta:{domain}",
        native_id=token_id,
        owner=login or user_id or None,
        owner_confidence=0.9 if login else 0.5 if user_id else 0.0,
        ai_related=bool(signal),
        created_at=created,
        last_used_at=last_used,
        evidence=tuple(
            e for e in (signal, f"created by {login or user_id}" if user_id else None) if e
        ),
        properties={
            "client_name": data.get("clientName"),
            "user_id": user_id,
            "network": network,
            "token_window": data.get("tokenWindow"),
        },
    )
    credential = Credential(
        id=f"okta:{domain}:api-token-secret/{token_id}",
        source="okta",
        account=domain,
        kind=CredentialKind.API_KEY,
        provider="okta",
        fingerprint=fingerprint(f"okta-api-token:{token_id}"),
        preview=f"00{token_id[-4:]}…",
        identity=identity_id,
        created_at=created,
        expires_at=expires,
        last_used_at=last_used,
        location=f"https://{domain}/admin/access/api/tokens",
        properties={"last_used_derived": last_used is not None, "network": network},
    )
    grant = Grant(
        id=f"{identity_id}#acts-as",
        source="okta",
        account=domain,
        subject_type="identity",
        subject=identity_id,
        system=f"okta:{domain}",
        resource="org",
        permissions=("okta.management-api",),
        reason=f"API token {name!r} calls the Okta management API with the admin permissions of "
        f"{login or user_id or 'its creator'}"
        + ("" if network != "ANYWHERE" else ", from any network"),
        properties={"inherits_user": user_id, "admin": True, "network": network},
    )
    return identity, credential, grant


def _app(rec: Rec, domain: str, ctx: _Ctx) -> tuple[Identity, list[Credential], Grant | None]:
    data = rec.data
    app_id = str(require(rec, "id"))
    label = str(data.get("label") or data.get("name") or app_id)
    oauth = (data.get("credentials") or {}).get("oauthClient") or {}
    client_id = str(oauth.get("client_id") or app_id)
    method = str(oauth.get("token_endpoint_auth_method") or "client_secret_basic")
    created = parse_time(data.get("created"), where=rec.where, field="created")
    scopes = sorted({s for s, _ in ctx.scopes.get(client_id, [])})
    signal = ai_signals.name_signal(label)
    identity_id = f"okta:{domain}:app/{app_id}"
    identity = Identity(
        id=identity_id,
        source="okta",
        account=domain,
        kind=IdentityKind.OAUTH_APP,
        name=label,
        system=f"okta:{domain}",
        native_id=client_id,
        ai_related=bool(signal),
        created_at=created,
        last_used_at=None,
        evidence=(signal,) if signal else (),
        properties={
            "client_id": client_id,
            "status": data.get("status"),
            "auth_method": method,
            "scopes": scopes,
            "sign_on_mode": data.get("signOnMode"),
        },
    )
    credentials: list[Credential] = []
    keys = (((data.get("settings") or {}).get("oauthClient") or {}).get("jwks") or {}).get(
        "keys"
    ) or []
    if method == "private_key_jwt":
        for key in keys:
            kid = str(key.get("kid") or key.get("n", "")[:16])
            credentials.append(
                Credential(
                    id=f"okta:{domain}:app-key/{app_id}/{kid}",
                    source="okta",
                    account=domain,
                    kind=CredentialKind.PUBLIC_KEY,
                    provider="okta",
                    fingerprint=fingerprint(f"jwk:{kid}"),
                    preview=f"kid {kid}",
                    identity=identity_id,
                    created_at=created,
                    location=f"https://{domain}/admin/app/oidc_client/instance/{app_id}",
                    properties={"auth_method": method, "kty": key.get("kty")},
                )
            )
    elif method.startswith("client_secret"):
        credentials.append(
            Credential(
                id=f"okta:{domain}:app-secret/{app_id}",
                source="okta",
                account=domain,
                kind=CredentialKind.CLIENT_SECRET,
                provider="okta",
                fingerprint=fingerprint(f"okta-client-secret:{client_id}"),
                preview=f"secret of {client_id[:6]}…",
                identity=identity_id,
                created_at=created,
                location=f"https://{domain}/admin/app/oidc_client/instance/{app_id}",
                properties={"auth_method": method, "scopes": scopes},
            )
        )
    grant = None
    if scopes:
        manage = [s for s in scopes if s.endswith(".manage")]
        grant = Grant(
            id=f"{identity_id}#scopes",
            source="okta",
            account=domain,
            subject_type="identity",
            subject=identity_id,
            system=f"okta:{domain}",
            resource="org",
            permissions=tuple(scopes),
            reason=f"service app {label!r} was granted Okta API scopes {', '.join(scopes[:4])}"
            + (f" (+{len(scopes) - 4} more)" if len(scopes) > 4 else ""),
            properties={"admin": bool(manage), "client_id": client_id},
        )
    return identity, credentials, grant


CONNECTOR: Connector[OktaRaw] = OktaConnector()
