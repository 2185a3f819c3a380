"""MCP client configurations, client by client, from real-shaped fixture files.

Fixtures hold ``{{detector-id}}`` markers where a key goes; the tests fill them
with fake keys, so the fixture files themselves contain no key-shaped strings.
"""

from __future__ import annotations

import random
import re
import string
from pathlib import Path

import pytest

from charter.discovery.scan.checks import sha256_hex
from charter.discovery.scan.kinds import McpClient, Transport
from charter.discovery.scan.mcp_configs import (
    MCP_INLINE_SECRET,
    McpConfigError,
    McpServer,
    client_for,
    loads_jsonc,
    parse_config,
)

from .helpers import fake, scanner

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scan" / "mcp"
_RNG = random.Random(5)
GENERIC = "Zq8" + "".join(_RNG.choice(string.ascii_letters + string.digits) for _ in range(29))


def _load(relative: str) -> tuple[str, dict[str, str]]:
    """The fixture's text with its markers filled; also marker → value."""
    text = (FIXTURES / relative).read_text()
    values: dict[str, str] = {}

    def fill(match: re.Match[str]) -> str:
        marker = match.group(1)
        if marker == "generic":
            value = GENERIC
        elif marker == "aws-key-id":
            value = fake("aws-access-key").token
        else:
            value = fake(marker).token
        values[marker] = value
        return value

    return re.sub(r"\{\{([a-z0-9-]+)\}\}", fill, text), values


def _parse(relative: str, *, in_home: bool = False) -> tuple[dict[str, McpServer], dict[str, str]]:
    text, values = _load(relative)
    servers = parse_config(relative, text.encode(), scanner(), in_home=in_home)
    return {s.name: s for s in servers}, values


@pytest.mark.parametrize(
    ("path", "client"),
    [
        ("Library/Application Support/Claude/claude_desktop_config.json", McpClient.CLAUDE_DESKTOP),
        ("repo/.mcp.json", McpClient.CLAUDE_CODE),
        (".claude.json", McpClient.CLAUDE_CODE),
        ("repo/.cursor/mcp.json", McpClient.CURSOR),
        ("repo/.vscode/mcp.json", McpClient.VSCODE),
        (".config/Code/User/settings.json", McpClient.VSCODE),
        (".codeium/windsurf/mcp_config.json", McpClient.WINDSURF),
        (".gemini/settings.json", McpClient.GEMINI_CLI),
        ("x/saoudrizwan.claude-dev/settings/cline_mcp_settings.json", McpClient.CLINE),
        (".codex/config.toml", McpClient.CODEX),
    ],
)
def test_client_is_known_from_the_path(path: str, client: McpClient) -> None:
    assert client_for(path) is client


@pytest.mark.parametrize(
    "path", ["mcp.json", "settings.json", "config.toml", "repo/.cursor/x.json"]
)
def test_other_files_are_not_mcp_configs(path: str) -> None:
    assert client_for(path) is None


def test_claude_desktop_servers_env_names_and_inline_tokens() -> None:
    servers, values = _parse("claude-desktop/claude_desktop_config.json", in_home=True)
    assert set(servers) == {"filesystem", "github", "slack"}
    github = servers["github"]
    assert github.client is McpClient.CLAUDE_DESKTOP and github.scope == "user"
    assert github.transport is Transport.STDIO
    assert github.command is not None and github.command.startswith("docker run -i --rm")
    assert github.env == ("GITHUB_PERSONAL_ACCESS_TOKEN",)
    assert [(s.where, s.detector) for s in github.inline_secrets] == [
        ("env GITHUB_PERSONAL_ACCESS_TOKEN", "github-pat")
    ]
    assert github.inline_secrets[0].fingerprint == sha256_hex(values["github-pat"].encode())
    assert github.inline_secrets[0].line == 11
    assert "github" in github.systems
    slack = servers["slack"]
    assert slack.env == ("SLACK_BOT_TOKEN", "SLACK_TEAM_ID")
    assert [s.detector for s in slack.inline_secrets] == ["slack-bot-token"]  # not the team id
    assert servers["filesystem"].inline_secrets == ()


def test_claude_code_project_file_transports_and_generic_inline_header() -> None:
    servers, values = _parse("claude-code/project/.mcp.json")
    assert servers["sentry"].transport is Transport.HTTP
    assert servers["postgres"].transport is Transport.STDIO
    assert servers["postgres"].references == ("DATABASE_URL",)
    api = servers["internal-api"]
    assert api.transport is Transport.SSE and api.headers == ("X-API-Key",)
    assert [s.detector for s in api.inline_secrets] == [MCP_INLINE_SECRET.id]
    assert api.inline_secrets[0].fingerprint == sha256_hex(values["generic"].encode())
    assert values["generic"] not in api.inline_secrets[0].preview


def test_claude_code_user_file_has_user_and_per_project_servers() -> None:
    servers, values = _parse("claude-code/home/.claude.json", in_home=True)
    assert servers["linear"].scope == "user"
    stripe = servers["stripe"]
    assert stripe.scope == "project /Users/ada/src/support-bot"
    assert [s.detector for s in stripe.inline_secrets] == ["stripe-secret-key"]
    # the key never appears in the command we show
    assert stripe.command is not None and values["stripe-secret-key"] not in stripe.command
    assert "--api-key=…" in stripe.command


def test_cursor_jsonc_with_env_reference_and_inline_key() -> None:
    servers, _ = _parse("cursor/.cursor/mcp.json")
    notion = servers["notion"]
    assert notion.transport is Transport.HTTP and notion.references == ("NOTION_TOKEN",)
    assert notion.inline_secrets == ()
    tools = servers["openai-tools"]
    assert [s.detector for s in tools.inline_secrets] == ["openai-project-key"]


def test_vscode_inputs_are_references_not_secrets() -> None:
    servers, _ = _parse("vscode/.vscode/mcp.json")
    assert servers["Perplexity"].references == ("input:perplexity-key",)
    assert servers["Perplexity"].inline_secrets == ()
    assert servers["github"].transport is Transport.HTTP and servers["github"].systems == (
        "github",
    )


def test_windsurf_server_url_and_generic_env_secret() -> None:
    servers, _ = _parse("windsurf/.codeium/windsurf/mcp_config.json")
    assert servers["remote"].url == "https://mcp.internal.example/mcp"
    assert servers["remote"].transport is Transport.HTTP
    assert [s.detector for s in servers["brave-search"].inline_secrets] == [MCP_INLINE_SECRET.id]


def test_gemini_http_url_and_variable_references() -> None:
    servers, _ = _parse("gemini/.gemini/settings.json")
    tools = servers["pythonTools"]
    assert set(tools.references) == {"DB_CONNECTION_STRING", "EXTERNAL_API_KEY"}
    assert tools.inline_secrets == ()
    http = servers["httpServer"]
    assert http.transport is Transport.HTTP
    assert [s.detector for s in http.inline_secrets] == ["anthropic-api-key"]


def test_cline_disabled_flag_and_streamable_http() -> None:
    servers, _ = _parse("cline/cline_mcp_settings.json")
    assert servers["huggingface"].disabled and servers["huggingface"].transport is Transport.HTTP
    assert not servers["weather"].disabled
    assert [s.detector for s in servers["huggingface"].inline_secrets] == ["huggingface-token"]


def test_codex_toml_tables_env_and_bearer_variable() -> None:
    servers, _ = _parse("codex/.codex/config.toml")
    assert set(servers) == {"context7", "figma", "aws"}
    figma = servers["figma"]
    assert figma.transport is Transport.HTTP and figma.references == ("FIGMA_OAUTH_TOKEN",)
    assert figma.headers == ("X-Figma-Region",) and figma.inline_secrets == ()
    aws = servers["aws"]
    assert aws.env == ("AWS_ACCESS_KEY_ID", "AWS_REGION")
    assert [s.detector for s in aws.inline_secrets] == ["aws-access-key"]
    assert aws.inline_secrets[0].line == 18


@pytest.mark.parametrize("path", ["malformed/.cursor/mcp.json", "malformed/.codex/config.toml"])
def test_malformed_configs_raise_a_typed_error(path: str) -> None:
    with pytest.raises(McpConfigError):
        parse_config(path, (FIXTURES / path).read_bytes(), scanner())


def test_invalid_utf8_and_wrong_shapes_are_errors() -> None:
    with pytest.raises(McpConfigError, match="UTF-8"):
        parse_config(".mcp.json", b'{"mcpServers": {"\xff": {}}}', scanner())
    with pytest.raises(McpConfigError, match="top level"):
        parse_config(".mcp.json", b"[1, 2]", scanner())
    with pytest.raises(McpConfigError, match="not an object"):
        parse_config(".mcp.json", b'{"mcpServers": [1]}', scanner())


def test_jsonc_keeps_comment_markers_inside_strings() -> None:
    assert loads_jsonc('{"url": "https://x//y", /* c */ "a": [1,],}') == {
        "url": "https://x//y",
        "a": [1],
    }
