"""``charter ssf`` and ``charter siem`` as a user runs them: bad input is one line naming the
field, exit 2, and changes nothing; a stream's life from the CLI is audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.test_cli_bad_input import one_line_error
from tests.support.server import charter_env, run_cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return charter_env(tmp_path / "home")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("ssf", "streams", "create", "--aud", ""), "aud"),
        (("ssf", "streams", "create", "--aud", "a", "--push", "http://siem.example/r"), "endpoint"),
        (("ssf", "streams", "create", "--aud", "a", "--push", "ftp://x/r"), "endpoint"),
        (("ssf", "streams", "status", "nope", "paused"), "stream"),
        (("siem", "export", "--to", "/no/such/dir/ocsf.jsonl"), "to"),
        (("siem", "export", "--to", "http://siem.example/collect"), "to"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(
    env: dict[str, str], args: tuple[str, ...], field: str
) -> None:
    one_line_error(run_cli(*args, env=env), field)
    listed = run_cli("ssf", "streams", "list", "--json", env=env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_a_stream_created_paused_and_deleted_from_the_cli(env: dict[str, str]) -> None:
    push = ("--push", "https://siem.example/ssf")
    created = run_cli("ssf", "streams", "create", "--aud", "urn:siem", *push, "--json", env=env)
    assert created.returncode == 0, created.stderr
    stream = json.loads(created.stdout)
    assert stream["bearer_token"].startswith("chssf_")
    assert stream["delivery"]["endpoint_url"] == "https://siem.example/ssf"
    paused = run_cli("ssf", "streams", "status", stream["stream_id"], "paused", env=env)
    assert paused.returncode == 0, paused.stderr
    (row,) = json.loads(run_cli("ssf", "streams", "list", "--json", env=env).stdout)
    assert row["status"] == "paused" and row["method"] == "push"
    assert run_cli("ssf", "streams", "delete", stream["stream_id"], env=env).returncode == 0
    assert json.loads(run_cli("ssf", "streams", "list", "--json", env=env).stdout) == []
    audit = json.loads(run_cli("audit", "list", "--json", env=env).stdout)
    actions = [e["action"] for e in (audit["items"] if isinstance(audit, dict) else audit)]
    assert {"ssf.stream_create", "ssf.stream_status", "ssf.stream_delete"} <= set(actions)
