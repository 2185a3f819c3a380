"""Hostile files to the installed ``charter`` command: one line on stderr, exit 2, no traceback.

Deep JSON was a RecursionError traceback, a SCIM ``"emails": "notalist"`` an
AttributeError traceback, and anything else a command did not foresee (a bad
``CHARTER_HOME``) printed Python's traceback too.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from tests.support.server import charter_env, run_cli

from charter.version import __version__

DEEP = "[" * 100_000 + "]" * 100_000


def one_line_error(result: object, *words: str) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, (result.returncode, stderr)  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    # a fresh store's "note: new store at …" may come first; the error itself is one line
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], stderr
    return lines[0]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return charter_env(tmp_path / "home")


@pytest.mark.parametrize(
    ("command", "name", "text"),
    [
        (("agent", "register"), "deep.json", DEEP),
        (("agent", "register"), "deep.yaml", "name: " + DEEP),
        (("people", "import"), "people.json", DEEP),
        (("policy", "apply"), "org-policy.yaml", "deny: " + DEEP),
    ],
)
def test_deep_files_are_one_line_naming_the_limit(
    env: dict[str, str], tmp_path: Path, command: tuple[str, ...], name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    one_line_error(run_cli(*command, str(path), env=env), "deeper than 64 levels")


def test_deep_context_option_is_one_line(env: dict[str, str]) -> None:
    context = '{"a":' * 100 + "1" + "}" * 100
    result = run_cli(
        "check", "-a", "x", "--action", "y", "--resource", "z", "--context", context, env=env
    )
    one_line_error(result, "--context nests deeper than 64 levels")


@pytest.mark.parametrize(
    "subject", [(), ("--agent", "a", "--person", "p@acme.example")], ids=["none", "both"]
)
def test_check_needs_exactly_one_subject(env: dict[str, str], subject: tuple[str, ...]) -> None:
    result = run_cli("check", *subject, "--action", "y", "--resource", "z:1", env=env)
    one_line_error(result, "error: agent:", "--agent NAME, or --person")


def test_a_charter_file_with_a_duplicate_key_is_one_line_naming_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("name: a\nowner: ana@acme.example\nowner: mallory@acme.example\n")
    one_line_error(run_cli("agent", "register", str(path), env=env), "'owner'", "line 3")


def test_malformed_scim_is_one_line_naming_the_field(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "scim.json"
    path.write_text(json.dumps({"Resources": [{"userName": "a@acme.example", "emails": "x"}]}))
    one_line_error(run_cli("people", "import", str(path), env=env), "Resources[0].emails")


def test_unknown_people_fields_refused_then_named_with_allow_unknown(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email,name,isAdmin\nmallory@acme.example,Mallory,true\n")
    one_line_error(run_cli("people", "import", str(path), env=env), "isAdmin", "--allow-unknown")
    result = run_cli("people", "import", str(path), "--allow-unknown", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["warnings"] == ["people.csv: ignored unknown field(s) isAdmin"]
    assert "warning: people.csv: ignored unknown field(s) isAdmin" in result.stderr


def test_a_charter_home_that_is_a_file_is_named(tmp_path: Path) -> None:
    home = tmp_path / "not-a-directory"
    home.write_text("")
    line = one_line_error(run_cli("agent", "list", env=charter_env(home)), str(home))
    assert line.startswith("error: CHARTER_HOME: ") and "is a file, not a directory" in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("people", "list", "--offset", str(2**63)), ("'--offset'", "2147483647")),
        (("agent", "list", "--bogus"), ("--bogus", "charter agent list --help")),
        (("agent", "register"), ("Missing argument 'FILE'",)),
        (("no-such-command",), ("No such command",)),
    ],
)
def test_usage_errors_are_one_line_too(
    env: dict[str, str], args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    one_line_error(run_cli(*args, env=env), *words)


def test_help_and_exit_codes_are_unchanged(env: dict[str, str]) -> None:
    assert run_cli("--help", env=env).returncode == 0
    bare = run_cli(env=env)
    assert bare.returncode == 2 and "Usage: charter" in bare.stdout + bare.stderr
    assert run_cli("version", env=env).returncode == 0


def test_serve_on_a_busy_port_says_so_before_any_banner(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), env=env, timeout=60)
    line = one_line_error(result, f"127.0.0.1:{port}", "--port")
    assert line.startswith("error: port:")
    assert "Charter on" not in result.stdout


def test_version_is_an_option_too(env: dict[str, str]) -> None:
    result = run_cli("--version", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == __version__


def test_serve_on_a_host_that_is_not_one_names_the_host(env: dict[str, str]) -> None:
    result = run_cli("serve", "--host", "not a host", env=env, timeout=60)
    assert one_line_error(result, "not a host").startswith("error: host:")
