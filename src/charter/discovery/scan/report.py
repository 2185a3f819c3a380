"""The result of a scan, and its JSON form.

Everything here is safe to print and store: secrets appear only as
fingerprints (SHA-256) and previews (prefix + last four characters).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from charter.discovery.scan.agent_code import Project
from charter.discovery.scan.detector import Detector
from charter.discovery.scan.kinds import BaselineState, SkipReason
from charter.discovery.scan.mcp_configs import McpServer
from charter.discovery.scan.walker import Problem, Root, Skipped
from charter.domain.enums import Severity

REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """One secret at one location."""

    rule: Detector
    fingerprint: str
    preview: str
    severity: Severity
    root: int
    path: str
    line: int
    column: int = 1
    commit: str | None = None
    origin: str = "file"  # "file", "history", "staged", "mcp-config"
    baseline: BaselineState = BaselineState.NEW
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}@{self.commit[:12]}" if self.commit else where

    def to_json(self, roots: list[Root]) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "title": self.rule.title,
            "provider": self.rule.provider,
            "system": self.rule.system,
            "kind": str(self.rule.kind),
            "severity": str(self.severity),
            "fingerprint": self.fingerprint,
            "preview": self.preview,
            "root": roots[self.root].resolved,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "commit": self.commit,
            "origin": self.origin,
            "baseline": str(self.baseline),
            "owasp": list(self.rule.owasp),
            "properties": self.properties,
        }


@dataclass(slots=True)
class ScanReport:
    engine: str
    roots: list[Root]
    findings: list[SecretFinding] = field(default_factory=list)
    servers: list[tuple[int, McpServer]] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files_scanned: int = 0
    bytes_scanned: int = 0
    seconds: float = 0.0
    allowed: int = 0
    commits_scanned: int = 0
    jobs: int = 1

    @property
    def new_findings(self) -> list[SecretFinding]:
        return [f for f in self.findings if f.baseline is BaselineState.NEW]

    @property
    def candidate_agents(self) -> list[Project]:
        return [p for p in self.projects if p.candidate_agent]

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes_scanned / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def mark_enrolled(self, agents: Mapping[str, str]) -> int:
        """Charter's own agent keys (``agents``: public kid → agent) are not leaks: they
        become info findings naming the agent. Returns how many were marked."""
        marked = 0
        for index, finding in enumerate(self.findings):
            agent = agents.get(str(finding.properties.get("public_kid")))
            if agent is None:
                continue
            self.findings[index] = dataclasses.replace(
                finding,
                severity=Severity.INFO,
                properties={**finding.properties, "charter_agent": agent},
            )
            marked += 1
        return marked

    def skipped_by_reason(self) -> dict[SkipReason, int]:
        return dict(Counter(s.reason for s in self.skipped).most_common())

    def summary(self) -> dict[str, Any]:
        by_provider = Counter(f.rule.provider for f in self.findings)
        return {
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "seconds": round(self.seconds, 3),
            "mb_per_second": round(self.megabytes_per_second, 1),
            "jobs": self.jobs,
            "commits_scanned": self.commits_scanned,
            "findings": len(self.findings),
            "new": len(self.new_findings),
            "baselined": len(self.findings) - len(self.new_findings),
            "allowed": self.allowed,
            "by_provider": dict(by_provider.most_common()),
            "mcp_servers": len(self.servers),
            "projects": len(self.projects),
            "candidate_agents": len(self.candidate_agents),
            "skipped": {str(k): v for k, v in self.skipped_by_reason().items()},
            "problems": len(self.problems),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "tool": "charter",
            "engine": self.engine,
            "roots": [r.resolved for r in self.roots],
            "summary": self.summary(),
            "findings": [f.to_json(self.roots) for f in self.findings],
            "mcp_servers": [_server_json(self.roots[i].resolved, s) for i, s in self.servers],
            "projects": [_project_json(self.roots[p.root].resolved, p) for p in self.projects],
            "skipped": [
                {
                    "root": self.roots[s.root].resolved,
                    "path": s.relative,
                    "reason": str(s.reason),
                    "detail": s.detail,
                }
                for s in self.skipped
            ],
            "problems": [
                {
                    "root": self.roots[p.root].resolved if p.root is not None else None,
                    "path": p.path,
                    "kind": str(p.kind),
                    "detail": p.detail,
                }
                for p in self.problems
            ],
        }


def _server_json(root: str, server: McpServer) -> dict[str, Any]:
    document = dataclasses.asdict(server)
    document["root"] = root
    document["client"] = str(server.client)
    document["transport"] = str(server.transport)
    document["inline_secrets"] = [
        {**dataclasses.asdict(s), "severity": str(s.severity)} for s in server.inline_secrets
    ]
    return document


def _project_json(root: str, project: Project) -> dict[str, Any]:
    return {
        "root": root,
        "path": project.path,
        "candidate_agent": project.candidate_agent,
        "ai_related": project.ai_related,
        "manifests": sorted(project.manifests),
        "frameworks": sorted(project.frameworks),
        "mcp_sdks": sorted(project.mcp_sdks),
        "model_sdks": sorted(project.model_sdks),
        "system_sdks": sorted(project.system_sdks),
        "systems": sorted(project.systems | project.secret_systems),
        "credential_variables": sorted(project.credential_env),
        "secrets": sorted(project.secrets),
        "mcp_servers": sorted(project.mcp_servers),
        "evidence": project.evidence,
    }
