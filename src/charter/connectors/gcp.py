"""Google Cloud: service accounts, their user-managed keys, and project IAM bindings.

Reads what ``gcloud … --format=json`` prints (the IAM API's own resources):
the service account list, key lists (one per account, concatenated or in
several files — each key names its account), the project IAM policy, and
optionally key/account last-authentication activity from Policy Intelligence.
Files of one project sit in one directory; the project comes from the service
accounts' ``projectId``.
"""

from __future__ import annotations

import re
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
    LiveApiError,
    Stream,
    fingerprint,
    get_json,
    json_records,
    live_records,
    require,
)
from charter.connectors.dates import parse_time
from charter.connectors.gcp_usage import Seen, learn_activity, learn_roles
from charter.connectors.scopes import placed, scopes_of
from charter.connectors.skipping import each, flat, guard
from charter.connectors.streaming import Head, Rec
from charter.domain.batch import Batch, Skipped
from charter.domain.credential_steps import CredentialRef
from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import InvalidInput

ACCOUNTS = ExportFormat(
    "gcp.service-accounts",
    "GCP service accounts (gcloud iam service-accounts list JSON)",
    "gcloud iam service-accounts list --project=$PROJECT --format=json > service-accounts.json",
    "service-accounts.json",
    required=True,
)
KEYS = ExportFormat(
    "gcp.keys",
    "GCP service account keys (gcloud iam service-accounts keys list JSON)",
    "for sa in $(gcloud iam service-accounts list --project=$PROJECT --format='value(email)'); do "
    "gcloud iam service-accounts keys list --iam-account=$sa --format=json; done > keys.json",
    "keys.json",
)
POLICY = ExportFormat(
    "gcp.iam-policy",
    "GCP project IAM policy (gcloud projects get-iam-policy JSON)",
    "gcloud projects get-iam-policy $PROJECT --format=json > iam-policy.json",
    "iam-policy.json",
)
ACTIVITY = ExportFormat(
    "gcp.activity",
    "GCP key and account last authentication (gcloud policy-intelligence query-activity JSON)",
    "gcloud policy-intelligence query-activity --project=$PROJECT "
    "--activity-type=serviceAccountKeyLastAuthentication --format=json > activity.json",
    "activity.json",
)
_ADMIN_ROLES = frozenset(
    {
        "roles/owner",
        "roles/editor",
        "roles/iam.securityAdmin",
        "roles/resourcemanager.projectIamAdmin",
        "roles/iam.serviceAccountTokenCreator",
        "roles/iam.serviceAccountKeyAdmin",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True, slots=True)
class GcpProject:
    project: str
    origin: tuple[str, ...]
    accounts: Stream[Rec]
    keys: Stream[Rec]
    policy: Stream[Rec]  # the bindings
    activity: Stream[Rec]


@dataclass(frozen=True, slots=True)
class GcpRaw:
    projects: tuple[GcpProject, ...]


class GcpConnector(ConnectorBase[GcpRaw]):
    id = "gcp"
    title = "Google Cloud IAM"
    formats = (ACCOUNTS, KEYS, POLICY, ACTIVITY)
    needs = (
        "iam.serviceAccounts.list",
        "iam.serviceAccountKeys.list",
        "resourcemanager.projects.getIamPolicy",
        "policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query",
    )
    live_api = LiveApi(
        base_url="https://iam.googleapis.com/v1",
        target="the project id",
        credential_env="CHARTER_GCP_TOKEN",
        docs="https://cloud.google.com/iam/docs/reference/rest",
    )

    #: "google" too: the name other sources (the scanner, Workspace) give Google's credentials.
    providers = ("gcp", "google")

    def revoke_steps(self, credential: CredentialRef) -> tuple[str, ...] | None:
        if credential.provider not in self.providers:
            return None
        return (
            f"gcloud iam service-accounts keys delete {credential.key_id} "
            "--iam-account=<service account>",
        )

    def rotation_steps(self, credential: CredentialRef) -> list[str] | None:
        if credential.provider not in self.providers:
            return None
        if credential.kind not in ("private_key", "access_key"):
            return None
        who, key = credential.holder, credential.key_id
        return [
            f"gcloud iam service-accounts keys create new-key.json --iam-account={who}",
            "Store new-key.json in the secret manager the agent reads, redeploy, "
            "then shred the file.",
            f"gcloud iam service-accounts keys disable {key} --iam-account={who}",
            f"gcloud iam service-accounts keys delete {key} --iam-account={who}",
            "Better: use Workload Identity Federation and stop creating keys.",
        ]

    def sniff(self, head: Head) -> ExportFormat | None:
        first = head.first if isinstance(head.first, dict) else {}
        if head.first_member is None and first:
            if (
                "email" in first
                and "projectId" in first
                and ("uniqueId" in first or "oauth2ClientId" in first)
            ):
                return ACCOUNTS
            if "keyAlgorithm" in first or (
                "/keys/" in str(first.get("name", "")) and "validAfterTime" in first
            ):
                return KEYS
            if first.get("activityType", "").startswith("serviceAccount"):
                return ACTIVITY
        if head.first_member == "bindings" and isinstance(first.get("members"), list):
            return POLICY
        return None

    def fetch(self, files: Sequence[ExportFile]) -> GcpRaw:
        projects: dict[str, Path] = {}
        homes: dict[str, bool] = {}  # project → the file's main project (takes unplaceable records)
        by_dir: dict[Path, str] = {}
        for file in files:
            if file.format is ACCOUNTS:
                found = _projects_of(file.path)
                for n, project in enumerate(found):
                    if project in projects:
                        raise InvalidInput(
                            f"two service account lists for project {project}",
                            field=str(file.path),
                        )
                    projects[project] = file.path
                    homes[project] = n == 0
                by_dir[file.path.parent] = found[0]
        if not projects:
            raise InvalidInput(
                f"the {self.title} export needs {ACCOUNTS.title} ({ACCOUNTS.command})", field="path"
            )
        side: dict[str, dict[str, list[Path]]] = {p: {} for p in projects}
        for file in files:
            if file.format is ACCOUNTS:
                continue
            owner = by_dir.get(file.path.parent) or (
                next(iter(projects)) if len(projects) == 1 else None
            )
            if owner is None:
                raise InvalidInput(
                    f"cannot tell which project {file.path.name} belongs to; put it beside "
                    "its service-accounts.json",
                    field=str(file.path),
                )
            side[owner].setdefault(file.format.id, []).append(file.path)
        out = []
        for project, path in projects.items():
            home = by_dir[path.parent]
            extra = side[project] if homes[project] else {}
            keys = side[home].get(KEYS.id, [])  # keys name their project: split like accounts
            out.append(
                GcpProject(
                    project,
                    tuple(str(p) for p in [path, *(q for paths in extra.values() for q in paths)]),
                    placed(json_records(path), project, _account_project, home=homes[project]),
                    placed(
                        Stream.chain([json_records(p) for p in keys]),
                        project,
                        _key_project,
                        home=homes[project],
                    ),
                    Stream.chain([json_records(p, "bindings") for p in extra.get(POLICY.id, [])]),
                    Stream.chain([json_records(p) for p in extra.get(ACTIVITY.id, [])]),
                )
            )
        return GcpRaw(tuple(out))

    def fetch_live(self, client: httpx.Client, target: str) -> GcpRaw:
        project = target
        base = "https://iam.googleapis.com/v1"

        def paged(url: str, member: str) -> Iterator[tuple[str, Any]]:
            token = None
            while True:
                body, _ = get_json(client, url, **({"pageToken": token} if token else {}))
                yield url, body
                token = body.get("nextPageToken")
                if not token:
                    return

        def accounts() -> Iterator[tuple[str, Any]]:
            yield from paged(f"{base}/projects/{project}/serviceAccounts", "accounts")

        def keys() -> Iterator[tuple[str, Any]]:
            for _url, body in accounts():
                for account in body.get("accounts") or []:
                    url = f"{base}/projects/{project}/serviceAccounts/{account['email']}/keys"
                    key_body, _ = get_json(client, url)
                    yield url, key_body

        def policy() -> Iterator[tuple[str, Any]]:
            url = f"https://cloudresourcemanager.googleapis.com/v1/projects/{project}:getIamPolicy"
            try:
                response = client.post(url, json={"options": {"requestedPolicyVersion": 3}})
            except httpx.HTTPError as exc:
                raise LiveApiError(f"cannot reach {url}: {exc}", field="live") from exc
            if response.status_code >= 400:
                raise LiveApiError(f"{url} answered HTTP {response.status_code}", field="live")
            yield url, response.json()

        return GcpRaw(
            (
                GcpProject(
                    project,
                    (f"{base}/projects/{project}",),
                    live_records(accounts, lambda b: b.get("accounts") or []),
                    live_records(keys, lambda b: b.get("keys") or []),
                    live_records(policy, lambda b: b.get("bindings") or []),
                    Stream.of([]),
                ),
            )
        )

    def normalize(self, raw: GcpRaw) -> list[Batch]:
        return [_project(p) for p in raw.projects]


def _account_project(rec: Rec) -> str:
    data = rec.data
    return str(data.get("projectId") or "") if isinstance(data, dict) else ""


def _key_project(rec: Rec) -> str:
    """``projects/P/serviceAccounts/SA@P.iam.gserviceaccount.com/keys/K`` → P."""
    name = rec.data.get("name") if isinstance(rec.data, dict) else None
    parts = str(name or "").split("/")
    if len(parts) < 4:
        return ""
    if parts[1] not in ("", "-"):
        return parts[1]
    return parts[3].split("@", 1)[-1].split(".", 1)[0] if "@" in parts[3] else ""


def _projects_of(path: Path) -> list[str]:
    """The projects a service account list covers, the one with most accounts first."""
    return scopes_of(json_records(path), _account_project, what="projectId", field=str(path))


def _sa_id(email: str) -> str:
    project = email.split("@", 1)[-1].split(".", 1)[0]
    return f"gcp:{project}:serviceaccount/{email}"


def _project(project: GcpProject) -> Batch:
    name = project.project
    skipped = Skipped()
    seen: list[Seen] = []

    def context() -> Seen:
        if seen:
            return seen[0]
        found = Seen()
        for rec in project.accounts:
            guard(rec, skipped, lambda r: found.emails.add(str(require(r, "email"))))
        for rec in project.activity:
            guard(rec, skipped, lambda r: learn_activity(r, found))
        for rec in project.policy:
            guard(rec, skipped, lambda r: learn_roles(r, found))
        seen.append(found)
        return found

    def identities() -> Iterator[Identity]:
        ctx = context()
        yield from each(project.accounts, skipped, lambda r: _account(r, ctx, name))
        for email in sorted(set(ctx.roles) - ctx.emails):  # Google-managed and foreign accounts
            yield _member_only(email, name, ctx)

    def credentials() -> Iterator[Credential]:
        ctx = context()
        for credential in each(project.keys, skipped, lambda r: _key(r, name, ctx)):
            if credential:
                yield credential

    def grants() -> Iterator[Grant]:
        listed = context().emails
        yield from flat(project.policy, skipped, lambda r: _bindings(r, name, listed))

    return Batch(
        "gcp",
        name,
        systems=[System(f"gcp:{name}", "gcp", f"GCP project {name}")],
        identities=Stream(identities),
        credentials=Stream(credentials),
        grants=Stream(grants),
        origin=project.origin,
        skipped=skipped,
    )


def _ai(email: str, roles: list[str], *names: Any) -> list[str]:
    evidence = [f"holds {r}" for r in roles if r.startswith(ai_signals.AI_GCP_ROLE_PREFIXES)]
    if "@gcp-sa-aiplatform" in email:
        evidence.append("Vertex AI service agent")
    signal = ai_signals.name_signal(*(str(n) for n in names if n))
    if signal:
        evidence.append(signal)
    return evidence


def _account(rec: Rec, ctx: Seen, project: str) -> Identity:
    data = rec.data
    email = str(require(rec, "email"))
    if str(require(rec, "projectId")) != project:
        raise rec.fail(f"belongs to project {data['projectId']}, not {project}")
    roles = sorted(set(ctx.roles.get(email, [])))
    evidence = _ai(
        email, roles, email.split("@")[0], data.get("displayName"), data.get("description")
    )
    owner_match = _EMAIL.search(str(data.get("description") or ""))
    owner = owner_match.group(0).lower() if owner_match else None
    if owner:
        evidence.append(f"owner named in the description: {owner}")
    last = [
        v
        for k, v in ctx.last_used.items()
        if k.endswith(f"serviceAccounts/{email}") or f"serviceAccounts/{email}/keys/" in k
    ]
    return Identity(
        id=_sa_id(email),
        source="gcp",
        account=str(data.get("projectId")),
        kind=IdentityKind.SERVICE_ACCOUNT,
        name=email,
        system=f"gcp:{data.get('projectId')}",
        native_id=str(data.get("uniqueId") or email),
        owner=owner,
        owner_confidence=0.6 if owner else 0.0,
        ai_related=any(not e.startswith("owner") for e in evidence),
        last_used_at=max(last) if last else None,
        evidence=tuple(evidence),
        properties={
            "display_name": data.get("displayName"),
            "description": data.get("description"),
            "disabled": bool(data.get("disabled", False)),
            "roles": roles,
            "oauth2_client_id": data.get("oauth2ClientId"),
        },
    )


def _member_only(email: str, project: str, ctx: Seen) -> Identity:
    roles = sorted(set(ctx.roles.get(email, [])))
    evidence = _ai(email, roles, email.split("@")[0])
    managed = email.endswith(".gserviceaccount.com") and (
        "gcp-sa-" in email or "developer.gserviceaccount" in email
    )
    return Identity(
        id=f"gcp:{project}:member/{email}",
        source="gcp",
        account=project,
        kind=IdentityKind.SERVICE_ACCOUNT,
        name=email,
        system=f"gcp:{project}",
        native_id=email,
        ai_related=bool(evidence)
        and not managed,  # Google's own service agents are platform, not AI agents
        evidence=tuple(evidence),
        properties={"roles": roles, "google_managed": managed, "listed": False},
    )


def _key(rec: Rec, project: str, ctx: Seen) -> Credential | None:
    data = rec.data
    full = str(require(rec, "name"))
    if data.get("keyType") == "SYSTEM_MANAGED":
        return None  # Google holds and rotates these; nobody can leak them
    parts = full.split("/")
    if len(parts) < 6 or parts[4] != "keys":
        raise rec.fail(
            f"name {full!r} is not projects/…/serviceAccounts/…/keys/…", field=f"{rec.where}.name"
        )
    email, key_id = parts[3], parts[5]
    last = ctx.last_used.get(full)
    created = parse_time(data.get("validAfterTime"), where=rec.where, field="validAfterTime")
    return Credential(
        id=f"gcp:{project}:key/{key_id}",
        source="gcp",
        account=project,
        kind=CredentialKind.PRIVATE_KEY,
        provider="gcp",
        fingerprint=fingerprint(key_id),
        preview=f"{key_id[:4]}…{key_id[-4:]}",
        identity=_sa_id(email),
        created_at=created,
        expires_at=parse_time(
            data.get("validBeforeTime"), where=rec.where, field="validBeforeTime"
        ),
        last_used_at=last,
        last_rotated_at=created,
        location=f"gcp service account {email}",
        properties={
            "key_type": data.get("keyType", "USER_MANAGED"),
            "algorithm": data.get("keyAlgorithm"),
            "origin": data.get("keyOrigin"),
            "disabled": bool(data.get("disabled", False)),
        },
    )


def _bindings(rec: Rec, project: str, listed: set[str]) -> Iterator[Grant]:
    role = str(require(rec, "role"))
    condition = rec.data.get("condition") or {}
    for member in rec.data.get("members") or []:
        member = str(member)
        if not member.startswith("serviceAccount:"):
            continue
        email = member.split(":", 1)[1]
        subject = _sa_id(email) if email in listed else f"gcp:{project}:member/{email}"
        yield Grant(
            id=f"gcp:{project}:binding/{role}#{email}",
            source="gcp",
            account=project,
            subject_type="identity",
            subject=subject,
            system=f"gcp:{project}",
            resource=f"projects/{project}",
            permissions=(role,),
            reason=f"the IAM policy of project {project} grants {role} to {email}"
            + (
                f" when {condition.get('title') or condition.get('expression')}"
                if condition
                else ""
            ),
            properties={
                "role": role,
                "admin": role in _ADMIN_ROLES,
                "condition": condition.get("expression") if condition else None,
            },
        )


CONNECTOR: Connector[GcpRaw] = GcpConnector()
