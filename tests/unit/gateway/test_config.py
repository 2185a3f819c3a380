"""The config file and credential references: valid files load, bad ones name the field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from charter.errors import InvalidInput
from charter.gateway.config import EnvRef, SecretRef, load_config, parse_config
from charter.gateway.secrets import Secrets, read_secrets_file

STDIO = {"name": "helpdesk", "stdio": {"command": "python", "args": ["server.py"]}}


def test_a_full_config_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        """
version: 1
gateway: {call_timeout: 5s, agent_calls_per_minute: 100}
secrets_file: secrets.yaml
upstreams:
  - name: helpdesk
    stdio:
      command: python
      args: [server.py]
      env: {API_KEY: {secret: helpdesk_key}, MODE: test}
  - name: mail
    tool_prefix: "mail."
    http:
      url: https://mail.internal/mcp
      headers: {Authorization: {env: MAIL_TOKEN, prefix: "Bearer "}}
"""
    )
    config = load_config(path)
    assert config.gateway.call_timeout == 5
    assert config.gateway.agent_calls_per_minute == 100
    assert [u.name for u in config.upstreams] == ["helpdesk", "mail"]
    assert config.upstream("helpdesk").transport == "stdio"
    assert config.upstream("mail").transport == "http"
    assert config.upstream("helpdesk").stdio.env["API_KEY"] == SecretRef(secret="helpdesk_key")  # type: ignore[union-attr]
    assert config.upstream("mail").http.headers["Authorization"] == EnvRef(
        env="MAIL_TOKEN", prefix="Bearer "
    )  # type: ignore[union-attr]
    assert config.resolve_path("secrets.yaml") == tmp_path / "secrets.yaml"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"upstreams": []}, "upstreams"),
        ({"upstreams": [{"name": "x"}]}, "upstreams.0"),
        ({"upstreams": [{**STDIO, "http": {"url": "https://a/mcp"}}]}, "upstreams.0"),
        ({"upstreams": [{**STDIO, "name": "Bad Name"}]}, "upstreams.0.name"),
        ({"upstreams": [STDIO, STDIO]}, "config"),
        ({"upstreams": [{**STDIO, "surprise": 1}]}, "upstreams.0.surprise"),
        ({"upstreams": [{"name": "h", "http": {"url": "ftp://x"}}]}, "upstreams.0.http.url"),
        ({"upstreams": [{**STDIO, "call_timeout": "soon"}]}, "upstreams.0.call_timeout"),
        ({"upstreams": [{**STDIO, "protocol": "2024-11-05"}]}, "upstreams.0.protocol"),
        ({"upstreams": [STDIO], "gateway": {"max_message_bytes": 10}}, "gateway.max_message_bytes"),
        (
            {"upstreams": [{"name": "h", "stdio": {"command": "x", "env": {"1BAD": "v"}}}]},
            "upstreams.0.stdio.env",
        ),
    ],
)
def test_bad_configs_name_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config(document)
    assert caught.value.field == field


def test_pattern_errors_say_what_is_expected() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config({"upstreams": [{**STDIO, "name": "Bad Name"}]})
    assert "is not a slug" in caught.value.message and "^" not in caught.value.message


def test_an_upstream_protocol_defaults_to_auto_and_bad_ones_say_what_is_allowed() -> None:
    assert parse_config({"upstreams": [STDIO]}).upstreams[0].protocol == "auto"
    assert parse_config({"upstreams": [{**STDIO, "protocol": "legacy"}]}).upstreams[0].protocol == (
        "legacy"
    )
    assert parse_config({"upstreams": [STDIO]}).gateway.stream_responses is True
    with pytest.raises(InvalidInput) as caught:
        parse_config({"upstreams": [{**STDIO, "protocol": "2024-11-05"}]})
    assert "'auto', 'legacy' or '2026-07-28'" in caught.value.message


def test_unreadable_and_malformed_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("upstreams: [\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_config(broken)


def test_references_resolve_from_env_and_the_secrets_file(tmp_path: Path) -> None:
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text("helpdesk_key: s3cr3t-value\n")
    os.chmod(secrets_file, 0o600)
    secrets = Secrets(read_secrets_file(secrets_file), {"MAIL_TOKEN": "tok-123456"})
    assert secrets.resolve(SecretRef(secret="helpdesk_key"), field="f") == "s3cr3t-value"
    assert (
        secrets.resolve(EnvRef(env="MAIL_TOKEN", prefix="Bearer "), field="f")
        == "Bearer tok-123456"
    )
    assert secrets.resolve("literal", field="f") == "literal"
    assert (
        secrets.redact("upstream said s3cr3t-value and tok-123456")
        == "upstream said [redacted] and [redacted]"
    )


def test_missing_references_fail_without_printing_values(tmp_path: Path) -> None:
    secrets = Secrets({"other": "hidden-value"}, {})
    with pytest.raises(InvalidInput) as caught:
        secrets.resolve(EnvRef(env="NOPE"), field="upstreams.mail.http.headers.Authorization")
    assert caught.value.field == "upstreams.mail.http.headers.Authorization"
    assert "NOPE" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        secrets.resolve(SecretRef(secret="absent"), field="x")
    assert "hidden-value" not in str(caught.value)


def test_a_secrets_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("k: v\n")
    os.chmod(path, 0o644)
    with pytest.raises(InvalidInput, match="chmod 600"):
        read_secrets_file(path)
    os.chmod(path, 0o600)
    path.write_text("nested: {a: b}\n")
    with pytest.raises(InvalidInput, match="flat mapping"):
        read_secrets_file(path)


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"content-length": "0"},
        {"Transfer-Encoding": "chunked"},
        {"Connection": "close"},
        {"X-Key": "a\r\nX-Injected: 1"},
        {"X-Key": "a\0b"},
        {"X-Key": {"env": "KEY", "prefix": "a\nb"}},
        {"X-Key\nHost": "v"},
    ],
)
def test_reserved_or_unsafe_upstream_headers_are_refused(headers: dict[str, object]) -> None:
    document = {"upstreams": [{"name": "h", "http": {"url": "http://x/mcp", "headers": headers}}]}
    with pytest.raises(InvalidInput) as caught:
        parse_config(document)
    assert caught.value.field == "upstreams.0.http.headers"


def test_a_resolved_header_value_with_a_line_break_fails_the_start() -> None:
    from charter.gateway.serve import check_secrets

    config = parse_config(
        {
            "upstreams": [
                {"name": "h", "http": {"url": "http://x/mcp", "headers": {"X-Key": {"env": "KEY"}}}}
            ]
        }
    )
    with pytest.raises(InvalidInput) as caught:
        check_secrets(config, Secrets({}, environ={"KEY": "a\r\nHost: evil"}))
    assert caught.value.field == "upstreams.h.http.headers.X-Key"
