"""Closed sets the file-system scanner speaks in, as ``StrEnum``.

Kept apart from the domain enums because they describe the scan itself (why a
file was skipped, which MCP client wrote a config), not the estate.
"""

from __future__ import annotations

from enum import StrEnum


class SkipReason(StrEnum):
    """Why a path was not scanned; the summary counts each one."""

    BINARY = "binary"
    TOO_LARGE = "too large"
    MINIFIED = "minified"
    VENDORED = "vendored"
    IGNORED = "ignored"
    NOT_REGULAR = "not a regular file"
    VCS = "version-control metadata"
    DUPLICATE = "already scanned via another path"


class ProblemKind(StrEnum):
    """Bad input met during a scan: reported, never raised."""

    NOT_FOUND = "path does not exist"
    UNREADABLE = "unreadable"
    BROKEN_SYMLINK = "broken symlink"
    SYMLINK_LOOP = "symlink loop"
    INVALID_UTF8 = "invalid UTF-8"
    MALFORMED_CONFIG = "malformed config"
    GIT = "git history"


class McpClient(StrEnum):
    """The MCP clients whose configuration files the scanner reads."""

    CLAUDE_DESKTOP = "claude-desktop"
    CLAUDE_CODE = "claude-code"
    CURSOR = "cursor"
    VSCODE = "vscode"
    WINDSURF = "windsurf"
    GEMINI_CLI = "gemini-cli"
    CLINE = "cline"
    CODEX = "codex"


class Transport(StrEnum):
    """How an MCP client reaches a server."""

    STDIO = "stdio"
    SSE = "sse"
    HTTP = "http"
    UNKNOWN = "unknown"


class BaselineState(StrEnum):
    """A finding against the baseline; values follow SARIF's ``baselineState``."""

    NEW = "new"
    UNCHANGED = "unchanged"


class Ecosystem(StrEnum):
    PYTHON = "python"
    JAVASCRIPT = "javascript"


class PackageRole(StrEnum):
    """What a known package tells us about the project that uses it."""

    AGENT_FRAMEWORK = "agent framework"
    MODEL_SDK = "model SDK"
    MCP_SDK = "MCP SDK"
    SYSTEM_SDK = "system SDK"
