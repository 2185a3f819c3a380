"""The OpenID AuthZEN interop scenarios, unmodified, against a real ``charter serve``.

The store is loaded as a user would load it — ``examples/authzen-interop/load.sh``
with the ``charter`` CLI — and every request of the Todo 1.1 scenario (40 single
evaluations, 3 batches) and of the API-gateway scenario (25 evaluations) is sent
as the spec repository wrote it (tests/fixtures/authzen-interop/README.md).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.server import CHARTER, ROOT, LiveServer, charter_env, live_server, run_cli

FIXTURES = ROOT / "tests" / "fixtures" / "authzen-interop"
LOAD = ROOT / "examples" / "authzen-interop" / "load.sh"


def scenario(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("interop")
    env = charter_env(home, CHARTER=CHARTER)
    loaded = subprocess.run(
        ["sh", str(LOAD)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr
    with live_server(env) as running:
        yield running


def _label(case: dict[str, Any]) -> str:
    request = case["request"]
    resource = request.get("resource", {})
    owner = resource.get("properties", {}).get("ownerID", "")
    return (
        f"{request['subject']['id'][:8]} {request['action']['name']} "
        f"{resource.get('type')}:{resource.get('id')} {owner}"
    )


@pytest.mark.parametrize("name", ["todo-1.1.json", "api-gateway.json"])
def test_every_single_evaluation_gives_the_scenarios_decision(
    server: LiveServer, name: str
) -> None:
    cases = scenario(name)["evaluation"]
    assert len(cases) == {"todo-1.1.json": 40, "api-gateway.json": 25}[name]
    wrong = []
    with server.client() as client:
        for case in cases:
            response = client.post("/access/v1/evaluation", json=case["request"])
            assert response.status_code == 200, response.text
            body = response.json()
            if body["decision"] is not case["expected"]:
                wrong.append(f"{_label(case)}: got {body}")
    assert not wrong, "\n".join(wrong)


def test_every_batch_gives_the_scenarios_decisions(server: LiveServer) -> None:
    batches = scenario("todo-1.1.json")["evaluations"]
    assert len(batches) == 3
    with server.client() as client:
        for batch in batches:
            response = client.post("/access/v1/evaluations", json=batch["request"])
            assert response.status_code == 200, response.text
            got = [{"decision": item["decision"]} for item in response.json()["evaluations"]]
            assert got == batch["expected"], batch["request"]


def test_a_deny_says_why_and_an_unknown_subject_is_a_deny_not_a_400(
    server: LiveServer,
) -> None:
    morty = scenario("todo-1.1.json")["evaluation"][12]["request"]  # Rick's to-do
    with server.client() as client:
        denied = client.post("/access/v1/evaluation", json=morty).json()
        assert denied["decision"] is False
        reasons = denied["context"]["reasons"]
        assert {r["code"] for r in reasons} >= {
            "no_role_allows",
            "condition_failed:resource.properties.ownerID",
        }
        assert any("morty@the-citadel.com" in r["reason_admin"]["en"] for r in reasons)
        stranger = {**morty, "subject": {"type": "user", "id": "nobody-we-know"}}
        unknown = client.post("/access/v1/evaluation", json=stranger)
        assert unknown.status_code == 200
        assert unknown.json()["decision"] is False
        assert unknown.json()["context"]["reason_codes"] == ["unknown_subject"]
        odd = {**morty, "subject": {"type": "robot", "id": "r2"}}
        assert client.post("/access/v1/evaluation", json=odd).json()["context"]["reason_codes"] == [
            "unknown_subject_type"
        ]
        mapped = {**morty, "subject": {"type": "employee", "id": "morty@the-citadel.com"}}
        mapped["resource"] = {
            **morty["resource"],
            "properties": {"ownerID": "morty@the-citadel.com"},
        }
        assert client.post("/access/v1/evaluation", json=mapped).json()["decision"] is True


def test_charter_check_decides_for_a_person_named_by_an_external_id(server: LiveServer) -> None:
    morty = "CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"
    own = '{"resource": {"properties": {"ownerID": "morty@the-citadel.com"}}}'
    args = ("check", "--person", morty, "--action", "can_update_todo", "--resource", "todo:1")
    allowed = run_cli(*args, "--context", own, "--json", env=server.env)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout) == {"allowed": True, "rule": "role/editor/allow/1"}
    denied = run_cli(*args, "--exit-code", env=server.env)
    assert denied.returncode == 1
    assert "condition_failed:resource.properties.ownerID" in denied.stdout
    assert "resource.properties.ownerID is missing" in denied.stdout


def test_charter_explain_shows_a_persons_roles_and_their_attribute_conditions(
    server: LiveServer,
) -> None:
    shown = run_cli("explain", "--person", "RICK@the-citadel.com", "--json", env=server.env)
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["groups"] == ["admin", "evil_genius"]
    rules = {rule["rule"]: rule for rule in view["rules"]}
    assert rules["role/evil-genius/allow/0"]["action"] == "can_update_todo"
    assert rules["role/editor/allow/1"]["when"] == [
        "resource.properties.ownerID eq subject.properties.email"
    ]
    missing = run_cli("explain", "--person", "nobody", env=server.env)
    assert missing.returncode == 2 and "error: person:" in missing.stderr
