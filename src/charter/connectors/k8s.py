"""Kubernetes: ServiceAccounts, their token Secrets, RBAC bindings and cloud identity links.

Reads the ``List`` that ``kubectl get … -o json`` writes (streamed item by
item). One file is one cluster; the cluster's name is the file's stem
(``prod-eu-1.json``) — ``kubectl`` does not write it into the output.

- ServiceAccounts become identities; ``eks.amazonaws.com/role-arn`` (IRSA) and
  ``iam.gke.io/gcp-service-account`` (GKE Workload Identity) annotations become
  edges to the cloud identity the account assumes.
- Secrets of type ``kubernetes.io/service-account-token`` become token
  credentials (fingerprinted, never stored). Opaque Secrets whose values hold a
  recognisable provider key (AWS key id, OpenAI, Anthropic, GitHub, Slack) are
  recorded as credentials *located* in the cluster, matching the same key
  seen elsewhere by fingerprint.
- RoleBindings and ClusterRoleBindings to ServiceAccounts become grants with the
  verbs and resources of the bound (Cluster)Role.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
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
    preview,
)
from charter.connectors.dates import parse_time
from charter.connectors.skipping import flat, guard
from charter.connectors.streaming import Head, Rec
from charter.domain.batch import Batch, Skipped
from charter.domain.credential_steps import CredentialRef
from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import InvalidInput

LIST = ExportFormat(
    "k8s.list",
    "Kubernetes objects (kubectl get -o json List)",
    "kubectl get serviceaccounts,secrets,roles,rolebindings,clusterroles,clusterrolebindings "
    '--all-namespaces -o json > "$(kubectl config current-context)".json',
    "<cluster>.json",
    required=True,
)
_KINDS = frozenset(
    {"ServiceAccount", "Secret", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
)
IRSA = "eks.amazonaws.com/role-arn"
GKE_WI = "iam.gke.io/gcp-service-account"
_OWNER_LABELS = ("owner", "team-owner", "app.kubernetes.io/owner", "charter.dev/owner")
#: Provider keys worth recognising inside Opaque Secrets: (provider, pattern, what to fingerprint).
_KEY_SHAPES = (
    ("aws", re.compile(r"^(?:AKIA|ASIA)[A-Z0-9]{16}$")),
    ("openai", re.compile(r"^sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}$")),
    ("anthropic", re.compile(r"^sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{20,}$")),
    ("github", re.compile(r"^(?:ghp|gho|ghu|ghs|github_pat)_[A-Za-z0-9_]{20,}$")),
    ("slack", re.compile(r"^xox[abpr]-[A-Za-z0-9-]{10,}$")),
)


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str
    origin: tuple[str, ...]
    items: Stream[Rec]


@dataclass(frozen=True, slots=True)
class K8sRaw:
    clusters: tuple[Cluster, ...]


@dataclass(slots=True)
class _Rbac:
    roles: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # "ns/name" → rules
    has_items: bool = False


def _meta(rec: Rec) -> dict[str, Any]:
    meta = rec.data.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise rec.fail("the object has no metadata.name", field=f"{rec.where}.metadata.name")
    return meta


def _rules(data: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for rule in data.get("rules") or []:
        verbs = rule.get("verbs") or []
        resources = rule.get("resources") or rule.get("nonResourceURLs") or []
        groups = rule.get("apiGroups") or [""]
        for resource in resources:
            for group in groups:
                qualified = f"{group}/{resource}" if group else resource
                out.append(tuple(f"{qualified}:{v}" for v in verbs))
    return out


class K8sConnector(ConnectorBase[K8sRaw]):
    id = "k8s"
    title = "Kubernetes"
    formats = (LIST,)
    needs = (
        "get/list serviceaccounts, secrets, roles, rolebindings, clusterroles, "
        "clusterrolebindings in every namespace (e.g. a read-only ClusterRole)",
    )
    live_api = LiveApi(
        base_url="https://<api-server>",
        target="the API server URL (https://…:6443); its first host label names the cluster",
        credential_env="CHARTER_K8S_TOKEN",
        docs="https://kubernetes.io/docs/reference/kubernetes-api/",
        ca_env="CHARTER_K8S_CA",  # clusters usually serve a certificate of their own CA
    )

    providers = ("kubernetes",)

    def rotation_steps(self, credential: CredentialRef) -> list[str] | None:
        """A secret this connector found in a cluster, or a long-lived service account token.

        Whatever issued the secret, the workload should get a bound token instead.
        """
        long_lived_token = credential.kind == "token" and credential.properties.get("secret_type")
        if credential.source != self.id and not long_lived_token:
            return None
        namespace = credential.properties.get("namespace", "NAMESPACE")
        who = credential.holder
        return [
            f"kubectl -n {namespace} create token {who} --duration=1h  # bound, short-lived",
            "Switch the workload to the projected service account token volume.",
            f"kubectl -n {namespace} delete secret <the long-lived token secret of {who}>",
        ]

    def sniff(self, head: Head) -> ExportFormat | None:
        first = head.first if isinstance(head.first, dict) else {}
        if head.first_member == "items" and first.get("kind") in _KINDS:
            return LIST
        if head.kind == "json" and "items" in head.keys and "kind" in head.keys and not first:
            return LIST  # an empty List
        return None

    def fetch(self, files: Sequence[ExportFile]) -> K8sRaw:
        clusters = {}
        for file in files:
            name = file.path.stem
            if name in clusters:
                raise InvalidInput(f"two exports for cluster {name}", field=str(file.path))
            clusters[name] = Cluster(name, (str(file.path),), json_records(file.path, "items"))
        return K8sRaw(tuple(clusters.values()))

    def fetch_live(self, client: httpx.Client, target: str) -> K8sRaw:
        paths = (
            "/api/v1/serviceaccounts",
            "/api/v1/secrets",
            "/apis/rbac.authorization.k8s.io/v1/roles",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            "/apis/rbac.authorization.k8s.io/v1/rolebindings",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        )
        kinds = (
            "ServiceAccount",
            "Secret",
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
        )

        def pages() -> Iterator[tuple[str, Any]]:
            for path, kind in zip(paths, kinds, strict=True):
                token = None
                while True:
                    params = {"limit": 500, **({"continue": token} if token else {})}
                    body, _ = get_json(client, f"{target.rstrip('/')}{path}", **params)
                    for item in body.get("items") or []:
                        item.setdefault("kind", kind)  # list items omit their kind
                    yield path, body
                    token = (body.get("metadata") or {}).get("continue")
                    if not token:
                        break

        name = httpx.URL(target).host.split(".")[0] or "cluster"
        return K8sRaw(
            (Cluster(name, (target,), live_records(pages, lambda b: b.get("items") or [])),)
        )

    def normalize(self, raw: K8sRaw) -> list[Batch]:
        return [_cluster(c) for c in raw.clusters]


def _cluster(cluster: Cluster) -> Batch:
    name = cluster.name
    system = f"k8s:{name}"
    skipped = Skipped()

    def rbac() -> _Rbac:
        found = _Rbac()
        for rec in cluster.items:
            if _kind(rec) in ("Role", "ClusterRole"):
                guard(rec, skipped, functools.partial(_learn_role, found=found))
        return found

    def identities() -> Iterator[Identity]:
        for rec in cluster.items:
            if not isinstance(rec.data, dict):
                skipped.add(rec.where, "expected an object")
            elif rec.data.get("kind") == "ServiceAccount":
                found = guard(rec, skipped, lambda r: _service_account(r, name))
                if found is not None:
                    yield found

    def credentials() -> Iterator[Credential]:
        secrets = (rec for rec in cluster.items if _kind(rec) == "Secret")
        yield from flat(secrets, skipped, lambda r: _secret(r, name))

    def grants() -> Iterator[Grant]:
        roles = rbac().roles
        for rec in cluster.items:
            kind = _kind(rec)
            if kind in ("RoleBinding", "ClusterRoleBinding"):
                yield from flat([rec], skipped, lambda r: _binding(r, str(_kind(r)), roles, name))
            elif kind == "ServiceAccount":
                yield from flat([rec], skipped, lambda r: _cloud_links(r, name))

    return Batch(
        "k8s",
        name,
        systems=[System(system, "k8s", f"Kubernetes cluster {name}")],
        identities=Stream(identities),
        credentials=Stream(credentials),
        grants=Stream(grants),
        origin=cluster.origin,
        skipped=skipped,
    )


def _kind(rec: Rec) -> Any:
    return rec.data.get("kind") if isinstance(rec.data, dict) else None


def _learn_role(rec: Rec, found: _Rbac) -> None:
    meta = _meta(rec)
    found.roles[f"{meta.get('namespace', '')}/{meta['name']}"] = _rules(rec.data)


def _sa_id(cluster: str, namespace: str, name: str) -> str:
    return f"k8s:{cluster}:{namespace}/serviceaccount/{name}"


def _service_account(rec: Rec, cluster: str) -> Identity:
    meta = _meta(rec)
    namespace = str(meta.get("namespace") or "default")
    name = str(meta["name"])
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    evidence: list[str] = []
    for signal in (
        ai_signals.tag_signal(labels),
        ai_signals.name_signal(name, namespace, labels.get("app.kubernetes.io/name")),
    ):
        if signal:
            evidence.append(signal)
    owner = next(
        (
            labels.get(k) or annotations.get(k)
            for k in _OWNER_LABELS
            if labels.get(k) or annotations.get(k)
        ),
        None,
    )
    if owner:
        evidence.append(f"owner from label/annotation: {owner}")
    links = {k: _assumed(k, annotations[k]) for k in (IRSA, GKE_WI) if annotations.get(k)}
    return Identity(
        id=_sa_id(cluster, namespace, name),
        source="k8s",
        account=cluster,
        kind=IdentityKind.SERVICE_ACCOUNT,
        name=f"{namespace}/{name}",
        system=f"k8s:{cluster}",
        native_id=str(meta.get("uid") or f"{namespace}/{name}"),
        owner=owner.lower() if owner else None,
        owner_confidence=0.7 if owner else 0.0,
        ai_related=bool([e for e in evidence if not e.startswith("owner")]),
        created_at=parse_time(
            meta.get("creationTimestamp"), where=rec.where, field="creationTimestamp"
        ),
        evidence=tuple(evidence),
        properties={
            "namespace": namespace,
            "labels": labels,
            "links": links,
            "automount_token": rec.data.get("automountServiceAccountToken", True),
            "secrets": [
                s.get("name") for s in rec.data.get("secrets") or [] if isinstance(s, dict)
            ],
        },
    )


def _assumed(annotation: str, value: str) -> str:
    """The id of the cloud identity an annotation names (what the ``assumes`` grant points at)."""
    if annotation == IRSA:
        parts = value.split(":")
        return f"aws:{parts[4] if len(parts) > 5 else ''}:{value.split(':', 5)[-1]}"
    project = value.split("@", 1)[-1].split(".", 1)[0]
    return f"gcp:{project}:serviceaccount/{value}"


def _decode(value: Any) -> str | None:
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _secret(rec: Rec, cluster: str) -> Iterator[Credential]:
    meta = _meta(rec)
    namespace = str(meta.get("namespace") or "default")
    name = str(meta["name"])
    kind = rec.data.get("type", "Opaque")
    data = rec.data.get("data") or {}
    if not isinstance(data, dict):
        raise rec.fail("data is not an object", field=f"{rec.where}.data")
    created = parse_time(meta.get("creationTimestamp"), where=rec.where, field="creationTimestamp")
    location = f"k8s:{cluster}/{namespace}/secret/{name}"
    if kind == "kubernetes.io/service-account-token":
        account = (meta.get("annotations") or {}).get("kubernetes.io/service-account.name")
        token = _decode(data.get("token", "")) or ""
        yield Credential(
            id=f"k8s:{cluster}:{namespace}/secret/{name}",
            source="k8s",
            account=cluster,
            kind=CredentialKind.TOKEN,
            provider="kubernetes",
            fingerprint=fingerprint(token or location),
            preview=preview(token) if token else "(no token yet)",
            identity=_sa_id(cluster, namespace, str(account)) if account else None,
            created_at=created,
            location=location,
            properties={"secret_type": kind, "long_lived": True, "namespace": namespace},
        )
        return
    if kind not in ("Opaque", ""):
        return
    for key in sorted(data):
        value = _decode(data[key])
        if not value:
            continue
        for provider, shape in _KEY_SHAPES:
            if shape.match(value):
                yield Credential(
                    id=f"k8s:{cluster}:{namespace}/secret/{name}#{key}",
                    source="k8s",
                    account=cluster,
                    kind=CredentialKind.ACCESS_KEY if provider == "aws" else CredentialKind.API_KEY,
                    provider=provider,
                    fingerprint=fingerprint(value),
                    preview=preview(value),
                    created_at=created,
                    location=f"{location}#{key}",
                    properties={
                        "secret_type": "Opaque",
                        "namespace": namespace,
                        "key": key,
                        "stored_in": "kubernetes secret",
                    },
                )
                break


def _binding(
    rec: Rec, kind: str, roles: dict[str, list[tuple[str, ...]]], cluster: str
) -> Iterator[Grant]:
    meta = _meta(rec)
    namespace = str(meta.get("namespace") or "")
    ref = rec.data.get("roleRef") or {}
    role_name = str(ref.get("name") or "")
    if not role_name:
        raise rec.fail("the binding has no roleRef.name", field=f"{rec.where}.roleRef")
    role_kind = str(ref.get("kind") or "ClusterRole")
    rules = roles.get(f"{namespace if role_kind == 'Role' else ''}/{role_name}")
    permissions = sorted({p for rule in rules or [] for p in rule})
    if rules is None:
        permissions = [f"{role_kind}:{role_name}"]  # a built-in role the export did not include
    scope = f"namespace/{namespace}" if kind == "RoleBinding" else "cluster"
    for subject in rec.data.get("subjects") or []:
        if subject.get("kind") != "ServiceAccount":
            continue
        sa_namespace = str(subject.get("namespace") or namespace or "default")
        sa = _sa_id(cluster, sa_namespace, str(subject.get("name")))
        admin = role_name in ("cluster-admin", "admin") or "*:*" in permissions
        where = f"namespace {namespace}" if kind == "RoleBinding" else "the whole cluster"
        binding = f"{namespace or '-'}/{kind.lower()}/{meta['name']}"
        yield Grant(
            id=f"k8s:{cluster}:{binding}#{sa_namespace}/{subject.get('name')}",
            source="k8s",
            account=cluster,
            subject_type="identity",
            subject=sa,
            system=f"k8s:{cluster}",
            resource=scope,
            permissions=tuple(permissions),
            reason=f"{kind} {meta['name']} binds {role_kind} {role_name} to service account "
            f"{sa_namespace}/{subject.get('name')} in {where}",
            properties={"role": role_name, "role_kind": role_kind, "admin": admin},
        )


def _cloud_links(rec: Rec, cluster: str) -> Iterator[Grant]:
    meta = _meta(rec)
    namespace = str(meta.get("namespace") or "default")
    name = str(meta["name"])
    annotations = meta.get("annotations") or {}
    sa = _sa_id(cluster, namespace, name)
    role_arn = annotations.get(IRSA)
    if role_arn:
        parts = str(role_arn).split(":")
        account = parts[4] if len(parts) > 5 else ""
        yield Grant(
            id=f"{sa}#irsa",
            source="k8s",
            account=cluster,
            subject_type="identity",
            subject=sa,
            system=f"aws:{account}",
            resource=str(role_arn),
            permissions=("sts:AssumeRoleWithWebIdentity",),
            reason=f"service account {namespace}/{name} assumes AWS role {role_arn} "
            "(IRSA annotation)",
            properties={
                "assumes": f"aws:{account}:{str(role_arn).split(':', 5)[-1]}",
                "link": "irsa",
            },
        )
    gsa = annotations.get(GKE_WI)
    if gsa:
        project = str(gsa).split("@", 1)[-1].split(".", 1)[0]
        yield Grant(
            id=f"{sa}#gke-wi",
            source="k8s",
            account=cluster,
            subject_type="identity",
            subject=sa,
            system=f"gcp:{project}",
            resource=f"serviceAccount:{gsa}",
            permissions=("iam.serviceAccounts.getAccessToken",),
            reason=f"service account {namespace}/{name} acts as Google service account {gsa} "
            "(GKE Workload Identity annotation)",
            properties={"assumes": _assumed(GKE_WI, str(gsa)), "link": "gke-workload-identity"},
        )


CONNECTOR: Connector[K8sRaw] = K8sConnector()
