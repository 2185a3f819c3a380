"""MCP client configurations, read server by server.

Every MCP client keeps its servers in its own file and shape: Claude Desktop
(``claude_desktop_config.json``), Claude Code (``.mcp.json``, ``~/.claude.json``
with per-project servers), Cursor (``.cursor/mcp.json``), VS Code
(``.vscode/mcp.json`` with ``servers`` and ``inputs``, or ``"mcp"`` in
``settings.json``), Windsurf (``mcp_config.json``), Gemini CLI
(``.gemini/settings.json``), Cline (``cline_mcp_settings.json``) and Codex
(``.codex/config.toml``). For each server we keep its name, transport, command
or URL, the *names* of the environment variables and headers it is given, the
variables and inputs it refers to, and every value that is a secret written
inline — the NHI2 finding (a credential copied into a config file that sync
tools, backups and screen shares carry along).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from charter.discovery.scan import checks
from charter.discovery.scan.content import ContentScanner
from charter.discovery.scan.detector import Detector, tail
from charter.discovery.scan.kinds import McpClient, Transport
from charter.discovery.scan.systems import is_credential_name, systems_in
from charter.domain.enums import CredentialKind, Severity

#: The rule for an inline secret whose format no detector knows (``"API_KEY": "…"``).
MCP_INLINE_SECRET = Detector(
    id="mcp-inline-secret",
    title="Secret written inline in an MCP client configuration",
    provider="MCP configuration",
    system="mcp",
    kind=CredentialKind.API_KEY,
    severity=Severity.HIGH,
    prefilter="(?!)",
    pattern="(?!)",
    prefixes=(),
    description="An MCP server's env variable, header or argument named like a credential "
    "(…_KEY, …_TOKEN, Authorization) holds a literal value instead of a reference.",
    remediation="Move the value to the environment or a secret manager and refer to it "
    "(${env:NAME} in VS Code and Cursor, ${NAME} in Claude Code, bearer_token_env_var or "
    "env_http_headers in Codex, an input with password: true in VS Code); rotate the value.",
    references=("https://modelcontextprotocol.io/docs/tutorials/security/authorization",),
)

_REFERENCE = re.compile(
    r"\$\{(?:env:)?(?P<var>[A-Za-z_][A-Za-z0-9_]*)\}|\$\{input:(?P<input>[^}]+)\}"
    r"|^\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)$|\{env:(?P<brace>[A-Za-z_][A-Za-z0-9_]*)\}"
)
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Bot)\s+", re.IGNORECASE)
_JSONC_TOKENS = re.compile(r'("(?:\\.|[^"\\])*")|(//[^\n]*)|(/\*[\s\S]*?\*/)')
_TRAILING_COMMA = re.compile(r'("(?:\\.|[^"\\])*")|,(\s*[}\]])')


@dataclass(frozen=True, slots=True)
class InlineSecret:
    where: str  # "env GITHUB_TOKEN", "header Authorization", "arg 3", "url"
    detector: str
    fingerprint: str
    preview: str
    line: int
    severity: Severity


@dataclass(frozen=True, slots=True)
class McpServer:
    client: McpClient
    config: str  # path relative to the scan root
    scope: str  # "user", "project", or "project <path>" inside ~/.claude.json
    name: str
    transport: Transport
    command: str | None
    url: str | None
    env: tuple[str, ...]
    headers: tuple[str, ...]
    references: tuple[str, ...]  # variables and inputs the config refers to
    inline_secrets: tuple[InlineSecret, ...]
    systems: tuple[str, ...]
    line: int
    disabled: bool = False


def client_for(relative: str) -> McpClient | None:
    """Which MCP client wrote the file at ``relative``, from its path alone."""
    lowered = relative.lower()
    name = lowered.rsplit("/", 1)[-1]
    if name == "claude_desktop_config.json":
        return McpClient.CLAUDE_DESKTOP
    if name in {".mcp.json", ".claude.json"}:
        return McpClient.CLAUDE_CODE
    if lowered.endswith(".cursor/mcp.json"):
        return McpClient.CURSOR
    if lowered.endswith(
        (
            ".vscode/mcp.json",
            "code/user/mcp.json",
            ".vscode/settings.json",
            "code/user/settings.json",
        )
    ):
        return McpClient.VSCODE
    if lowered.endswith("windsurf/mcp_config.json"):
        return McpClient.WINDSURF
    if lowered.endswith(".gemini/settings.json"):
        return McpClient.GEMINI_CLI
    if name == "cline_mcp_settings.json":
        return McpClient.CLINE
    if lowered.endswith(".codex/config.toml"):
        return McpClient.CODEX
    return None


def loads_jsonc(text: str) -> Any:
    """JSON with comments and trailing commas, as VS Code and Cursor accept."""
    without_comments = _JSONC_TOKENS.sub(lambda m: m.group(1) or "", text)
    return json.loads(_TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), without_comments))


class McpConfigError(ValueError):
    """The file is named like an MCP config but cannot be parsed."""


def parse_config(
    relative: str, data: bytes, scanner: ContentScanner, *, in_home: bool = False
) -> list[McpServer]:
    """Every server in one config file; raises ``McpConfigError`` for malformed files.

    ``in_home``: the file sits in the user's home directory, so its servers are
    user-wide rather than one project's.
    """
    client = client_for(relative)
    if client is None:
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise McpConfigError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        document = tomllib.loads(text) if client is McpClient.CODEX else loads_jsonc(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise McpConfigError(str(exc)) from exc
    if not isinstance(document, dict):
        raise McpConfigError("the top level is not an object")
    reader = _Reader(client, relative, text, scanner)
    for scope, servers in _server_tables(client, document, in_home):
        if not isinstance(servers, dict):
            raise McpConfigError(f"{scope} servers are not an object")
        for name, spec in servers.items():
            if isinstance(spec, dict):
                reader.server(scope, str(name), spec)
    return reader.servers


def _server_tables(
    client: McpClient, document: dict[str, Any], in_home: bool
) -> list[tuple[str, Any]]:
    scope = "user" if in_home or client is McpClient.CLAUDE_DESKTOP else "project"
    if client is McpClient.CODEX:
        return [(scope, document.get("mcp_servers", {}))]
    if client is McpClient.VSCODE:
        tables: list[tuple[str, Any]] = []
        if "servers" in document:
            tables.append((scope, document["servers"]))
        mcp = document.get("mcp")
        if isinstance(mcp, dict) and "servers" in mcp:
            tables.append((scope, mcp["servers"]))
        return tables
    tables = [(scope, document.get("mcpServers", {}))]
    projects = document.get("projects")
    if client is McpClient.CLAUDE_CODE and isinstance(projects, dict):
        for path, project in projects.items():
            if isinstance(project, dict) and project.get("mcpServers"):
                tables.append((f"project {path}", project["mcpServers"]))
    return tables


def _transport(spec: dict[str, Any], url: str | None) -> Transport:
    declared = str(spec.get("type") or spec.get("transport") or spec.get("transportType") or "")
    declared = declared.lower().replace("_", "-")
    if declared == "stdio":
        return Transport.STDIO
    if declared == "sse":
        return Transport.SSE
    if declared in {"http", "streamable-http", "streamablehttp"}:
        return Transport.HTTP
    if spec.get("command"):
        return Transport.STDIO
    if spec.get("httpUrl"):
        return Transport.HTTP
    if url:
        return Transport.SSE if url.rstrip("/").endswith("/sse") else Transport.HTTP
    return Transport.UNKNOWN


class _Reader:
    def __init__(self, client: McpClient, relative: str, text: str, scanner: ContentScanner):
        self.client, self.relative, self.text, self.scanner = client, relative, text, scanner
        self.servers: list[McpServer] = []

    def _line_of(self, needle: str, after: int = 0) -> int:
        position = self.text.find(needle, after)
        if position < 0:
            position = self.text.find(needle)
        return self.text.count("\n", 0, max(position, 0)) + 1

    def _position_of_server(self, name: str) -> int:
        position = self.text.find(json.dumps(name))
        if position < 0:
            position = self.text.find(name)
        return max(position, 0)

    def server(self, scope: str, name: str, spec: dict[str, Any]) -> None:
        start = self._position_of_server(name)
        url_value = spec.get("url") or spec.get("serverUrl") or spec.get("httpUrl")
        url = str(url_value) if url_value else None
        env = _string_map(spec.get("env"))
        headers = _string_map(spec.get("headers")) | _string_map(spec.get("http_headers"))
        args = [str(a) for a in spec.get("args", []) if isinstance(a, str | int | float)]
        references: set[str] = set()
        secrets: list[InlineSecret] = []
        flagged: list[str] = []  # raw values found to be secrets, to mask in what we show
        for key, value in env.items():
            self._value(f"env {key}", key, value, start, references, secrets, flagged)
        for key, value in headers.items():
            self._value(f"header {key}", key, value, start, references, secrets, flagged)
        for index, arg in enumerate(args):
            # "--api-key=VALUE", or "--api-key VALUE": the flag names what the value is
            previous = args[index - 1] if index else ""
            flag = previous if previous.startswith("--") else "arg"
            key = arg.split("=", 1)[0] if arg.startswith("--") and "=" in arg else flag
            value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
            self._value(f"arg {index + 1}", key, value, start, references, secrets, flagged)
        if url:
            self._value("url", "url", url, start, references, secrets, flagged)
        for field_name in ("bearer_token_env_var",):
            if isinstance(spec.get(field_name), str):
                references.add(spec[field_name])
        for header, variable in _string_map(spec.get("env_http_headers")).items():
            headers.setdefault(header, "")
            references.add(variable)
        command = spec.get("command")
        shown_command = " ".join([str(command), *args]) if command else None
        # Never show an inline secret in the command line or the URL.
        shown_command = _redact(shown_command, flagged)
        shown_url = _redact(url, flagged)
        systems = set()
        for word in [name, str(command or ""), *args, url or "", *env, *headers]:
            systems |= systems_in(word)
        self.servers.append(
            McpServer(
                client=self.client,
                config=self.relative,
                scope=scope,
                name=name,
                transport=_transport(spec, url),
                command=shown_command[:300] if shown_command else None,
                url=shown_url,
                env=tuple(sorted(env)),
                headers=tuple(sorted(headers)),
                references=tuple(sorted(references)),
                inline_secrets=tuple(secrets),
                systems=tuple(sorted(systems)),
                line=self.text.count("\n", 0, start) + 1,
                disabled=bool(spec.get("disabled")) or spec.get("enabled") is False,
            )
        )

    def _value(
        self,
        where: str,
        key: str,
        value: str,
        start: int,
        references: set[str],
        secrets: list[InlineSecret],
        flagged: list[str],
    ) -> None:
        found_reference = False
        for match in _REFERENCE.finditer(value):
            reference = next(g for g in match.groups() if g)
            references.add(f"input:{reference}" if match.group("input") else reference)
            found_reference = True
        line = self._line_of(json.dumps(value)[1:-1] if value else key, start)
        hits = self.scanner.scan_buffer(f"{key}={value}".encode()).secrets
        for hit in hits:
            secrets.append(
                InlineSecret(where, hit.detector, hit.fingerprint, hit.preview, line, hit.severity)
            )
        if hits:
            flagged.append(value)
        if hits or found_reference:
            return
        literal = _AUTH_SCHEME.sub("", value.strip())
        if (
            key != "url"
            and (is_credential_name(key) or key.lower() in {"authorization", "x-api-key"})
            and len(literal) >= 8
            and not checks.looks_placeholder(literal.encode())
            and checks.shannon_entropy(literal.encode()) >= 2.5
        ):
            secrets.append(
                InlineSecret(
                    where,
                    MCP_INLINE_SECRET.id,
                    checks.sha256_hex(literal.encode()),
                    f"{key}=…{tail(literal.encode())}",
                    line,
                    MCP_INLINE_SECRET.severity,
                )
            )
            flagged.append(literal)


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


def _redact(text: str | None, flagged: list[str]) -> str | None:
    """Replace each flagged value with its tail, keeping the rest readable."""
    if text is None:
        return None
    for value in sorted(flagged, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, f"…{tail(value.encode())}")
    return text
