"""From a scan to the estate: Systems, Identities, Credentials and Grants per root.

Each scan root is one account of source ``fs`` (its resolved path), so
``ReconcileService.apply`` upserts what this scan saw there and marks gone
what an earlier scan of the same root saw and this one did not. Records are
keyed by what stays stable across runs *and across roots* — a credential by
its fingerprint and the absolute file it is written in, a project by its
absolute directory, an MCP server by client, absolute config file and name —
so re-running updates instead of duplicating, first-seen dates survive, and a
scan of a parent folder finds the very records a scan of a subfolder made
(each record's ``properties["path"]`` is that absolute place; the scan
recorder moves records between overlapping roots by it).

* a **Credential** per distinct secret (fingerprint) per file, with every line;
* an **Identity** per MCP server (``mcp_server``), per project that uses AI or
  holds credentials (``code_project``; ``candidate_agent`` in its properties
  when it runs an agent and holds credentials), and per GCP service account
  whose key file was found (``service_account``);
* a **Grant** from each credential, project and MCP server to the systems it
  reaches, with the reason a person can read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
from collections import defaultdict
from typing import Any

from charter.discovery.scan.agent_code import Project
from charter.discovery.scan.mcp_configs import McpServer
from charter.discovery.scan.report import ScanReport, SecretFinding
from charter.discovery.scan.walker import Root
from charter.domain.batch import Batch
from charter.domain.enums import IdentityKind, Severity
from charter.domain.estate import SCANNER_SOURCE, Credential, Grant, Identity, System

SOURCE = SCANNER_SOURCE
MAX_LOCATIONS = 20
_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
_ACCOUNT_LIMIT = 200


def account_of(root: Root) -> str:
    """The account string for a root: its resolved path (shortened stably if very long)."""
    path = root.resolved
    if len(path) <= _ACCOUNT_LIMIT:
        return path
    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    return f"{path[:80]}…{digest}…{path[-80:]}"


def _short(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


class _Builder:
    def __init__(self, report: ScanReport, root: Root) -> None:
        self.report, self.root = report, root
        self.account = account_of(root)
        self.host = f"fs:{self.account}"
        self.systems: dict[str, System] = {
            self.host: System(self.host, "filesystem", root.resolved[-256:])
        }
        self.identities: dict[str, Identity] = {}
        self.credentials: list[Credential] = []
        self.grants: dict[str, Grant] = {}
        self.paths: dict[str, str] = {}  # record id → the absolute place it stands for

    def _id(self, *parts: str) -> str:
        """An id that does not depend on the scan root: the same place, the same record."""
        return ":".join((SOURCE, *parts))

    def absolute(self, relative: str) -> str:
        """The resolved path of a root-relative path ("." is the root itself)."""
        base = self.root.resolved if self.root.is_dir else posixpath.dirname(self.root.resolved)
        return base if relative in ("", ".") else f"{base}/{relative}"

    def system(self, system_id: str, name: str, kind: str = "service") -> str:
        self.systems.setdefault(system_id, System(system_id, kind, name))
        return system_id

    def grant(
        self,
        subject_type: str,
        subject: str,
        system: str,
        permissions: tuple[str, ...],
        reason: str,
    ) -> None:
        grant_id = self._id("grant", _short(f"{subject_type}|{subject}|{system}"))
        if grant_id not in self.grants:
            path = self.paths.get(subject, self.root.resolved)
            self.grants[grant_id] = Grant(
                grant_id,
                SOURCE,
                self.account,
                subject_type,
                subject,
                system,
                "*",
                permissions,
                reason,
                {"path": path},
            )

    # -- credentials ---------------------------------------------------------------------
    def credential(self, findings: list[SecretFinding]) -> str:
        findings.sort(key=lambda f: (f.commit is not None, f.path, f.line))
        first = findings[0]
        rule = first.rule
        worst = max(findings, key=lambda f: _SEVERITY_RANK[f.severity]).severity
        path = self.absolute(first.path)
        credential_id = self._id("credential", _short(path), first.fingerprint)
        self.paths[credential_id] = path
        identity = self._service_account(first, path)
        system = self.system(rule.system, rule.provider)
        properties: dict[str, Any] = {
            "rule": rule.id,
            "title": rule.title,
            "severity": str(worst),
            "owasp": list(rule.owasp),
            "occurrences": len(findings),
            "locations": [f.location for f in findings[:MAX_LOCATIONS]],
            "in_history_only": all(f.commit is not None for f in findings),
            "path": path,
            **{k: v for k, v in first.properties.items() if k != "expires_at"},
        }
        self.credentials.append(
            Credential(
                id=credential_id,
                source=SOURCE,
                account=self.account,
                kind=rule.kind,
                provider=rule.provider,
                fingerprint=first.fingerprint,
                preview=first.preview[:128],
                identity=identity,
                expires_at=_parse_time(first.properties.get("expires_at")),
                location=first.location,
                properties=properties,
            )
        )
        self.grant(
            "credential",
            credential_id,
            system,
            ("authenticate",),
            f"{rule.title} {first.preview} is written in {first.location}"
            + (f" and {len(findings) - 1} other place(s)" if len(findings) > 1 else ""),
        )
        return credential_id

    def _service_account(self, finding: SecretFinding, path: str) -> str | None:
        email = finding.properties.get("client_email")
        if finding.rule.id != "gcp-service-account-key" or not isinstance(email, str):
            return None
        project = finding.properties.get("project_id")
        system = self.system(
            f"gcp:{project}" if isinstance(project, str) else "gcp", f"Google Cloud {project or ''}"
        )
        identity_id = self._id("gcp-service-account", email, _short(path))
        self.paths[identity_id] = path
        self.identities.setdefault(
            identity_id,
            Identity(
                id=identity_id,
                source=SOURCE,
                account=self.account,
                kind=IdentityKind.SERVICE_ACCOUNT,
                name=email,
                system=system,
                native_id=email,
                evidence=(f"key file {finding.location}",),
                properties={"project_id": project, "path": path},
            ),
        )
        return identity_id

    # -- identities --------------------------------------------------------------------
    def mcp_server(self, server: McpServer) -> None:
        config = self.absolute(server.config)
        identity_id = self._id(
            "mcp", _short(f"{server.client}|{config}|{server.scope}|{server.name}")
        )
        self.paths[identity_id] = config
        self.identities[identity_id] = Identity(
            id=identity_id,
            source=SOURCE,
            account=self.account,
            kind=IdentityKind.MCP_SERVER,
            name=server.name,
            system=self.host,
            native_id=f"{server.config}#{server.name}",
            ai_related=True,
            evidence=(f"{server.client} config {server.config}:{server.line}",),
            properties={
                "client": str(server.client),
                "config": server.config,
                "scope": server.scope,
                "transport": str(server.transport),
                "command": server.command,
                "url": server.url,
                "env": list(server.env),
                "headers": list(server.headers),
                "references": list(server.references),
                "disabled": server.disabled,
                "path": config,
                "inline_secrets": [
                    {
                        "where": s.where,
                        "rule": s.detector,
                        "fingerprint": s.fingerprint,
                        "preview": s.preview,
                    }
                    for s in server.inline_secrets
                ],
            },
        )
        given = [*server.env, *server.headers]
        for system in server.systems:
            self.grant(
                "identity",
                identity_id,
                self.system(system, system),
                ("mcp-tools",),
                f"{server.client} runs MCP server '{server.name}' ({server.transport})"
                + (f" with {', '.join(given[:4])}" if given else "")
                + f" — {server.config}:{server.line}",
            )

    def project(self, project: Project) -> None:
        path = self.absolute(project.path)
        identity_id = self._id("project", _short(path))
        self.paths[identity_id] = path
        name = project.path if project.path != "." else path.rsplit("/", 1)[-1]
        sdks = sorted(project.frameworks | project.mcp_sdks | project.model_sdks)
        self.identities[identity_id] = Identity(
            id=identity_id,
            source=SOURCE,
            account=self.account,
            kind=IdentityKind.CODE_PROJECT,
            name=name or self.root.resolved,
            system=self.host,
            native_id=project.path,
            ai_related=project.ai_related,
            evidence=tuple(project.evidence[:20]),
            properties={
                "candidate_agent": project.candidate_agent,
                "frameworks": sorted(project.frameworks),
                "mcp_sdks": sorted(project.mcp_sdks),
                "model_sdks": sorted(project.model_sdks),
                "system_sdks": sorted(project.system_sdks),
                "credential_variables": sorted(project.credential_env),
                "credentials": sorted(project.secrets),
                "manifests": sorted(project.manifests),
                "mcp_servers": sorted(project.mcp_servers),
                "path": path,
            },
        )
        for system in sorted(project.systems | project.secret_systems):
            uses = [
                label for label in sdks + sorted(project.system_sdks) if system in label.lower()
            ]
            how = f"uses {', '.join(uses)}" if uses else "holds or reads a credential for it"
            self.grant(
                "identity",
                identity_id,
                self.system(system, system),
                ("uses",),
                f"project {name} {how}" + (" (candidate agent)" if project.candidate_agent else ""),
            )

    def batch(self, findings: list[SecretFinding]) -> Batch:
        by_place: dict[tuple[str, str], list[SecretFinding]] = defaultdict(list)
        for finding in findings:
            by_place[(finding.path, finding.fingerprint)].append(finding)
        for group in by_place.values():
            self.credential(group)
        for index, server in self.report.servers:
            if index == self.root.index:
                self.mcp_server(server)
        for project in self.report.projects:
            if project.root == self.root.index:
                self.project(project)
        return Batch(
            SOURCE,
            self.account,
            systems=list(self.systems.values()),
            identities=list(self.identities.values()),
            credentials=self.credentials,
            grants=list(self.grants.values()),
            origin=(self.root.resolved,),
        )


def batches(report: ScanReport) -> list[Batch]:
    """One complete batch per scanned root (a root that does not exist has none)."""
    out = []
    for root in report.roots:
        findings = [f for f in report.findings if f.root == root.index]
        out.append(_Builder(report, root).batch(findings))
    return out
