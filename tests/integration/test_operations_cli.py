"""Bad operations options: exit 2 naming the option, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.server import charter_env, run_cli


@pytest.mark.parametrize(
    ("args", "extra_env", "words"),
    [
        (("serve", "--log-format", "xml"), {}, ("log format", "'xml'")),
        (("serve", "--metrics-port", "9100", "--workers", "2"), {}, ("--metrics-port", "worker")),
        (("serve",), {"CHARTER_METRICS_PORT": "ninety"}, ("CHARTER_METRICS_PORT",)),
        (("serve", "--metrics-port", "1"), {}, ("metrics_port", "port of their own")),
        (("serve",), {"CHARTER_LOG_FORMAT": "yaml"}, ("log format", "'yaml'")),
        (
            ("gateway", "--config", "examples/gateway/gateway.yaml", "--log-format", "xml"),
            {},
            ("log format",),
        ),
    ],
)
def test_bad_operations_options_are_one_line_exit_2(
    tmp_path: Path, args: tuple[str, ...], extra_env: dict[str, str], words: tuple[str, ...]
) -> None:
    env = charter_env(tmp_path / "home", **extra_env)
    result = run_cli(*args, "--port", "1", env=env, timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], result.stderr
    assert "Charter on http" not in result.stdout  # refused before the banner


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ("{Host: evil.example}", "upstreams.0.http.headers"),
        ('{X-Key: "a\\r\\nHost: evil"}', "upstreams.0.http.headers"),
        ("{X-Key: {env: GWFIX_KEY}}", "upstreams.mail.http.headers.X-Key"),
    ],
)
def test_an_unsafe_upstream_header_stops_the_gateway_naming_the_field(
    tmp_path: Path, headers: str, field: str
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "version: 1\nupstreams:\n  - name: mail\n    http:\n"
        f"      url: http://127.0.0.1:1/mcp\n      headers: {headers}\n"
    )
    env = charter_env(tmp_path / "home", GWFIX_KEY="a\nHost: evil")
    result = run_cli("gateway", "--config", str(config), "--port", "1", env=env, timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert field in result.stderr
