"""GitHub: an organisation's fine-grained PATs, GitHub App installations and deploy keys.

Reads the REST API's own JSON as ``gh api`` prints it (with ``--paginate``,
pages are written back to back; the streaming reader accepts that). Every
record names its organisation (``repositories_url``, ``account.login``, the
deploy key ``url``), so files need no naming convention.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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
from charter.connectors.scopes import placed
from charter.connectors.skipping import each
from charter.connectors.streaming import Head, Rec
from charter.domain.batch import Batch, Skipped
from charter.domain.credential_steps import CredentialRef
from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import InvalidInput

PATS = ExportFormat(
    "github.pats",
    "GitHub fine-grained personal access tokens (organisation)",
    "gh api --paginate /orgs/$ORG/personal-access-tokens > personal-access-tokens.json",
    "personal-access-tokens.json",
)
INSTALLATIONS = ExportFormat(
    "github.installations",
    "GitHub App installations (organisation)",
    "gh api --paginate /orgs/$ORG/installations > installations.json",
    "installations.json",
)
DEPLOY_KEYS = ExportFormat(
    "github.deploy-keys",
    "GitHub deploy keys (per repository)",
    "for r in $(gh repo list $ORG --limit 1000 --json name -q '.[].name'); do "
    "gh api --paginate /repos/$ORG/$r/keys; done > deploy-keys.json",
    "deploy-keys.json",
)
_ORG_IN_URL = re.compile(r"/(?:orgs|repos)/([^/]+)")
_WRITE = ("write", "admin")


@dataclass(frozen=True, slots=True)
class GithubRaw:
    pats: Stream[Rec]
    installations: Stream[Rec]
    deploy_keys: Stream[Rec]
    origin: tuple[str, ...]


def _org(rec: Rec, *urls: Any) -> str:
    for url in urls:
        match = _ORG_IN_URL.search(str(url or ""))
        if match:
            return match.group(1).lower()
    raise rec.fail("cannot tell the organisation: no API url in the record")


def _permissions(permissions: dict[str, Any]) -> list[str]:
    out = []
    for scope, value in sorted(permissions.items()):
        if isinstance(value, dict):  # fine-grained PATs group by organization / repository
            out += [f"{scope}.{name}:{level}" for name, level in sorted(value.items())]
        else:
            out.append(f"{scope}:{value}")
    return out


class GithubConnector(ConnectorBase[GithubRaw]):
    id = "github"
    title = "GitHub"
    formats = (PATS, INSTALLATIONS, DEPLOY_KEYS)
    needs = (
        "organization owner, or a GitHub App with 'Personal access tokens: read' "
        "and 'Administration: read' (organisation and repositories)",
    )
    live_api = LiveApi(
        base_url="https://api.github.com",
        target="the organisation login",
        credential_env="CHARTER_GITHUB_TOKEN",
        docs="https://docs.github.com/en/rest/orgs/personal-access-tokens",
        headers=(
            ("Accept", "application/vnd.github+json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
        ),
    )

    reports_last_use = True
    providers = ("github",)

    def revoke_steps(self, credential: CredentialRef) -> tuple[str, ...] | None:
        if credential.provider not in self.providers:
            return None
        return (
            f"Revoke token {credential.key_id} (organisation settings → Personal access tokens).",
        )

    def rotation_steps(self, credential: CredentialRef) -> list[str] | None:
        if credential.provider not in self.providers:
            return None
        return [
            "Create a replacement fine-grained token with the same repositories and permissions "
            "(https://github.com/settings/personal-access-tokens/new), "
            "expiring in at most 90 days.",
            "Store it where the agent reads it and redeploy.",
            f"Revoke the old token {credential.key_id} "
            "(Settings → Developer settings → Fine-grained tokens).",
            "Better: a GitHub App installation token, which expires within an hour.",
        ]

    def sniff(self, head: Head) -> ExportFormat | None:
        first = head.first if isinstance(head.first, dict) else {}
        if head.first_member is None and "token_id" in first and "token_name" in first:
            return PATS
        if head.first_member == "installations" and "app_id" in first:
            return INSTALLATIONS
        if (
            head.first_member is None
            and "read_only" in first
            and str(first.get("key", "")).startswith(("ssh-", "ecdsa-", "sk-"))
        ):
            return DEPLOY_KEYS
        return None

    def fetch(self, files: Sequence[ExportFile]) -> GithubRaw:
        def pick(fmt: ExportFormat, member: str | None = None) -> Stream[Rec]:
            return Stream.chain([json_records(f.path, member) for f in files if f.format is fmt])

        return GithubRaw(
            pick(PATS),
            pick(INSTALLATIONS, "installations"),
            pick(DEPLOY_KEYS),
            tuple(str(f.path) for f in files),
        )

    def fetch_live(self, client: httpx.Client, target: str) -> GithubRaw:
        base = "https://api.github.com"
        org = target

        def paged(url: str) -> Iterator[tuple[str, Any]]:
            params: dict[str, Any] = {"per_page": 100}
            next_url: str | None = url
            while next_url:
                body, response = get_json(client, next_url, **params)
                yield next_url, body
                next_url = response.links.get("next", {}).get("url")
                params = {}

        def keys() -> Iterator[tuple[str, Any]]:
            for _url, repos in paged(f"{base}/orgs/{org}/repos"):
                for repo in repos:
                    yield from paged(f"{base}/repos/{org}/{repo['name']}/keys")

        return GithubRaw(
            live_records(lambda: paged(f"{base}/orgs/{org}/personal-access-tokens"), lambda b: b),
            live_records(
                lambda: paged(f"{base}/orgs/{org}/installations"),
                lambda b: b.get("installations") or [],
            ),
            live_records(keys, lambda b: b),
            (f"{base}/orgs/{org}",),
        )

    def normalize(self, raw: GithubRaw) -> list[Batch]:
        orgs: dict[str, None] = {}
        for stream, urls in _STREAMS:
            for rec in stream(raw):
                orgs.setdefault(_owner(rec, urls), None)
        orgs.pop("", None)  # records that name no organisation: skipped in the first one's batch
        if not orgs:
            raise InvalidInput(
                "the GitHub export holds no tokens, installations or keys", field="path"
            )
        return [_org_batch(org, raw, home=n == 0) for n, org in enumerate(orgs)]


_STREAMS: tuple[tuple[Callable[[GithubRaw], Stream[Rec]], tuple[str, ...]], ...] = (
    (lambda raw: raw.pats, ("repositories_url",)),
    (lambda raw: raw.installations, ("repositories_url", "access_tokens_url")),
    (lambda raw: raw.deploy_keys, ("url",)),
)


def _owner(rec: Rec, urls: tuple[str, ...]) -> str:
    """The organisation a record belongs to, or "" when it cannot be told."""
    if not isinstance(rec.data, dict):
        return ""
    account = rec.data.get("account")
    login = account.get("login") if isinstance(account, dict) else None
    if login:
        return str(login).lower()
    try:
        return _org(rec, *(rec.data.get(u) for u in urls))
    except InvalidInput:
        return ""


def _org_batch(org: str, raw: GithubRaw, *, home: bool) -> Batch:
    system = f"github:{org}"
    skipped = Skipped()
    pats, installations, keys = (
        placed(stream(raw), org, functools.partial(_owner, urls=urls), home=home)
        for stream, urls in _STREAMS
    )

    def identities() -> Iterator[Identity]:
        yield from each(pats, skipped, lambda r: _pat(r, org)[0])
        yield from each(installations, skipped, lambda r: _installation(r, org)[0])
        yield from each(keys, skipped, lambda r: _deploy_key(r, org)[0])

    def credentials() -> Iterator[Credential]:
        yield from each(pats, skipped, lambda r: _pat(r, org)[1])
        yield from each(keys, skipped, lambda r: _deploy_key(r, org)[1])

    def grants() -> Iterator[Grant]:
        yield from each(pats, skipped, lambda r: _pat(r, org)[2])
        yield from each(installations, skipped, lambda r: _installation(r, org)[1])
        yield from each(keys, skipped, lambda r: _deploy_key(r, org)[2])

    return Batch(
        "github",
        org,
        systems=[System(system, "github", f"GitHub organisation {org}")],
        identities=Stream(identities),
        credentials=Stream(credentials),
        grants=Stream(grants),
        origin=raw.origin,
        skipped=skipped,
    )


def _pat(rec: Rec, org: str) -> tuple[Identity, Credential, Grant]:
    data = rec.data
    token_id = str(require(rec, "token_id"))
    name = str(data.get("token_name") or f"token {token_id}")
    login = str((data.get("owner") or {}).get("login") or "")
    permissions = _permissions(data.get("permissions") or {})
    signal = ai_signals.name_signal(name)
    identity_id = f"github:{org}:pat/{token_id}"
    expires = parse_time(data.get("token_expires_at"), where=rec.where, field="token_expires_at")
    last_used = parse_time(
        data.get("token_last_used_at"), where=rec.where, field="token_last_used_at"
    )
    granted = parse_time(data.get("access_granted_at"), where=rec.where, field="access_granted_at")
    selection = str(data.get("repository_selection") or "subset")
    identity = Identity(
        id=identity_id,
        source="github",
        account=org,
        kind=IdentityKind.API_KEY_HOLDER,
        name=name,
        system=f"github:{org}",
        native_id=token_id,
        owner=login or None,
        owner_confidence=0.9 if login else 0.0,
        ai_related=bool(signal),
        created_at=granted,
        last_used_at=last_used,
        evidence=tuple(e for e in (signal, f"token owner {login}" if login else None) if e),
        properties={
            "kind": "fine-grained PAT",
            "owner_login": login,
            "repository_selection": selection,
            "expired": bool(data.get("token_expired")),
        },
    )
    credential = Credential(
        id=f"github:{org}:pat-token/{token_id}",
        source="github",
        account=org,
        kind=CredentialKind.TOKEN,
        provider="github",
        fingerprint=fingerprint(f"github-pat:{token_id}"),
        preview=f"github_pat_…({name})",
        identity=identity_id,
        created_at=granted,
        expires_at=expires,
        last_used_at=last_used,
        location=f"github.com/settings/personal-access-tokens ({login})",
        properties={
            "token_id": token_id,
            "expired": bool(data.get("token_expired")),
            "scopes": permissions,
        },
    )
    writes = [p for p in permissions if p.endswith(_WRITE)]
    grant = Grant(
        id=f"{identity_id}#access",
        source="github",
        account=org,
        subject_type="identity",
        subject=identity_id,
        system=f"github:{org}",
        resource=f"{org}/*" if selection == "all" else f"{org}/(selected repositories)",
        permissions=tuple(permissions),
        reason=f"{login or 'someone'}'s fine-grained token {name!r} was granted {len(permissions)} "
        f"permission(s) on {'all' if selection == 'all' else 'selected'} repositories of {org}"
        + (f", including {', '.join(writes[:3])}" if writes else ""),
        properties={
            "repository_selection": selection,
            "admin": any("administration:write" in p for p in permissions),
        },
    )
    return identity, credential, grant


def _installation(rec: Rec, org: str) -> tuple[Identity, Grant]:
    data = rec.data
    slug = str(data.get("app_slug") or data.get("app_id") or require(rec, "id"))
    permissions = _permissions(data.get("permissions") or {})
    selection = str(data.get("repository_selection") or "selected")
    signal = ai_signals.name_signal(slug)
    identity_id = f"github:{org}:app/{slug}"
    created = parse_time(data.get("created_at"), where=rec.where, field="created_at")
    identity = Identity(
        id=identity_id,
        source="github",
        account=org,
        kind=IdentityKind.OAUTH_APP,
        name=slug,
        system=f"github:{org}",
        native_id=str(data.get("id")),
        ai_related=bool(signal),
        created_at=created,
        evidence=(signal,) if signal else (),
        properties={
            "app_id": data.get("app_id"),
            "installation_id": data.get("id"),
            "repository_selection": selection,
            "events": data.get("events") or [],
            "suspended": bool(data.get("suspended_at")),
            "scopes": permissions,
        },
    )
    writes = [p for p in permissions if p.endswith(_WRITE)]
    grant = Grant(
        id=f"{identity_id}#installation",
        source="github",
        account=org,
        subject_type="identity",
        subject=identity_id,
        system=f"github:{org}",
        resource=f"{org}/*" if selection == "all" else f"{org}/(selected repositories)",
        permissions=tuple(permissions),
        reason=f"GitHub App {slug} is installed on {'all' if selection == 'all' else 'selected'} "
        f"repositories of {org} with {len(permissions)} permission(s)"
        + (f", including {', '.join(writes[:3])}" if writes else ""),
        properties={
            "admin": any(
                p.startswith(("administration:write", "organization_administration:write"))
                for p in permissions
            )
        },
    )
    return identity, grant


def _deploy_key(rec: Rec, org: str) -> tuple[Identity, Credential, Grant]:
    data = rec.data
    key_id = str(require(rec, "id"))
    url = str(require(rec, "url"))
    repo = url.split("/repos/", 1)[-1].rsplit("/keys", 1)[0].lower()
    title = str(data.get("title") or f"deploy key {key_id}")
    added_by = data.get("added_by")
    read_only = bool(data.get("read_only", True))
    signal = ai_signals.name_signal(title)
    identity_id = f"github:{org}:deploy-key/{key_id}"
    created = parse_time(data.get("created_at"), where=rec.where, field="created_at")
    last_used = parse_time(data.get("last_used"), where=rec.where, field="last_used")
    blob = str(data.get("key", "")).split()
    identity = Identity(
        id=identity_id,
        source="github",
        account=org,
        kind=IdentityKind.API_KEY_HOLDER,
        name=f"{title} ({repo})",
        system=f"github:{org}",
        native_id=key_id,
        owner=str(added_by) if added_by else None,
        owner_confidence=0.7 if added_by else 0.0,
        ai_related=bool(signal),
        created_at=created,
        last_used_at=last_used,
        evidence=tuple(e for e in (signal, f"added by {added_by}" if added_by else None) if e),
        properties={
            "kind": "deploy key",
            "repository": repo,
            "read_only": read_only,
            "verified": data.get("verified"),
            "enabled": data.get("enabled", True),
        },
    )
    credential = Credential(
        id=f"github:{org}:deploy-key-ssh/{key_id}",
        source="github",
        account=org,
        kind=CredentialKind.PUBLIC_KEY,
        provider="github",
        fingerprint=fingerprint(blob[1] if len(blob) > 1 else f"deploy-key:{key_id}"),
        preview=f"{blob[0] if blob else 'ssh'} …{blob[1][-8:] if len(blob) > 1 else key_id}",
        identity=identity_id,
        created_at=created,
        last_used_at=last_used,
        location=f"github.com/{repo}/settings/keys",
        properties={
            "read_only": read_only,
            "scopes": ["contents:read" if read_only else "contents:write"],
        },
    )
    grant = Grant(
        id=f"{identity_id}#repo",
        source="github",
        account=org,
        subject_type="identity",
        subject=identity_id,
        system=f"github:{org}",
        resource=repo,
        permissions=("contents:read",) if read_only else ("contents:read", "contents:write"),
        reason=f"deploy key {title!r} {'reads' if read_only else 'reads and writes (pushes to)'} "
        f"{repo}",
        properties={"read_only": read_only},
    )
    return identity, credential, grant


CONNECTOR: Connector[GithubRaw] = GithubConnector()
