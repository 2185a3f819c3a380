"""AuthZEN 1.0 against a real ``charter serve``: decisions, batches with the three
semantics, per-item errors, bad input, request ids, metadata, and the activity log
after a clean shutdown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.server import ROOT, LiveServer, charter_env, live_server

from charter.config import Settings
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.domain.roles import parse_roles_text
from charter.services.context import Services
from charter.services.people import parse_directory

EXAMPLES = ROOT / "examples"
REVIEWER = {"type": "agent", "id": "code-reviewer"}
PLATFORM = {"type": "github", "id": "acme/platform-api"}


def seed(home: Path, *, roles: bool = True) -> dict[str, str]:
    """People, two active agents and the example roles, set up in-process."""
    url = f"sqlite:///{home / 'charter.db'}"
    services = Services.from_settings(Settings(home=home, database_url=url))
    try:
        services.people.import_records(
            parse_directory((EXAMPLES / "people.json").read_bytes(), filename="people.json"),
            actor="t",
        )
        for name in ("support-summarizer", "code-reviewer"):
            spec = parse_charter_text((EXAMPLES / "agents" / f"{name}.yaml").read_text())
            services.registry.register(spec, actor="t")
            services.registry.transition(name, Transition.ACTIVATE, actor="t", reason="ok")
        if roles:
            text = (EXAMPLES / "policy" / "roles.yaml").read_text()
            services.decisions.apply_roles(parse_roles_text(text), actor="t", source="roles.yaml")
    finally:
        services.decisions.close()
        services.close()
    return charter_env(home)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(seed(tmp_path_factory.mktemp("authzen"))) as running:
        yield running


def evaluation(action: str, subject: dict[str, Any] = REVIEWER, **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "action": {"name": action}, "resource": PLATFORM, **extra}


def test_allow_and_deny_are_200_with_reasons_and_the_request_id_is_echoed(
    server: LiveServer,
) -> None:
    with server.client() as client:
        allowed = client.post(
            "/access/v1/evaluation",
            json=evaluation("github.pulls.read"),
            headers={"X-Request-ID": "req-42"},
        )
        assert allowed.status_code == 200 and allowed.headers["x-request-id"] == "req-42"
        assert allowed.json() == {
            "decision": True,
            "context": {"rule": "charter/code-reviewer/allow/0"},
        }
        denied = client.post("/access/v1/evaluation", json=evaluation("github.pulls.merge"))
        assert denied.status_code == 200
        body = denied.json()
        assert body["decision"] is False
        assert body["context"]["reason_codes"] == ["explicitly_denied", "no_matching_capability"]
        first = body["context"]["reasons"][0]
        assert first["id"] == "0" and first["rule"] == "charter/code-reviewer/deny/0"
        assert "github.pulls.merge" in first["reason_admin"]["en"]
        ghost = client.post(
            "/access/v1/evaluation", json=evaluation("x", {"type": "agent", "id": "ghost"})
        )
        assert ghost.status_code == 200 and ghost.json()["context"]["reason_codes"] == [
            "unknown_agent"
        ]


def test_on_behalf_of_and_properties(server: LiveServer) -> None:
    subject = {
        "type": "agent",
        "id": "support-summarizer",
        "properties": {"on_behalf_of": "maria.garcia@acme.example"},
    }
    request = {
        "subject": subject,
        "action": {"name": "tickets.comments.read"},
        "resource": {"type": "zendesk", "id": "tickets/4711"},
        "context": {"data": {"classification": "internal"}},
    }
    with server.client() as client:
        body = client.post("/access/v1/evaluation", json=request).json()
        assert body == {
            "decision": True,
            "context": {
                "rule": "charter/support-summarizer/allow/1",
                "role": "role/support-agent/allow/0",
            },
        }
        subject["properties"] = {"on_behalf_of": {"type": "user", "id": "priya.nair@acme.example"}}
        body = client.post("/access/v1/evaluation", json=request).json()
        assert body["decision"] is False
        assert "delegation_not_allowed" in body["context"]["reason_codes"]


def test_evaluations_with_defaults_semantics_and_per_item_errors(server: LiveServer) -> None:
    items = [
        {"action": {"name": "github.pulls.read"}},
        {"action": {"name": ""}},  # cannot be evaluated
        {"action": {"name": "github.pulls.merge"}},
        {"action": {"name": "github.pulls.comment"}},
    ]
    base = {"subject": REVIEWER, "resource": PLATFORM, "evaluations": items}
    with server.client() as client:
        every = client.post("/access/v1/evaluations", json=base).json()["evaluations"]
        assert [e["decision"] for e in every] == [True, False, False, True]
        assert every[1]["context"]["error"] == {
            "status": 400,
            "message": "action.name must be a non-empty string",
        }
        deny_first = client.post(
            "/access/v1/evaluations",
            json={**base, "options": {"evaluations_semantic": "deny_on_first_deny"}},
        ).json()["evaluations"]
        assert len(deny_first) == 2 and "error" in deny_first[1]["context"]
        permit_first = client.post(
            "/access/v1/evaluations",
            json={
                **base,
                "evaluations": items[2:],
                "options": {"evaluations_semantic": "permit_on_first_permit"},
            },
        ).json()["evaluations"]
        assert [e["decision"] for e in permit_first] == [False, True]
        override = client.post(
            "/access/v1/evaluations",
            json={
                "subject": {"type": "agent", "id": "ghost"},
                "action": {"name": "github.pulls.read"},
                "evaluations": [
                    {"resource": PLATFORM},
                    {"subject": REVIEWER, "resource": PLATFORM},
                ],
            },
        ).json()["evaluations"]
        assert [e["decision"] for e in override] == [False, True]
        single = client.post("/access/v1/evaluations", json=evaluation("github.pulls.read")).json()
        assert single["decision"] is True  # no evaluations array: one evaluation


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (
            b'{"action": {"name": "x"}, "resource": {"type": "a", "id": "b"}}',
            400,
            "subject is required",
        ),
        (
            b'{"subject": {"type": 7, "id": "u"}, "action": {"name": "x"}, "resource": '
            b'{"type": "a", "id": "b"}}',
            400,
            "subject.type must be a non-empty string",
        ),
        (
            b'{"subject": {"type": "agent", "id": "a"}, "action": {"name": 5}, "resource": '
            b'{"type": "a", "id": "b"}}',
            400,
            "action.name",
        ),
        (
            b'{"subject": {"type": "agent", "id": "a"}, "action": {"name": "x"}, "resource": '
            b'{"type": "a", "id": ["b"]}}',
            400,
            "resource.id",
        ),
    ],
)
def test_malformed_requests_are_clear_400s(
    server: LiveServer, body: bytes, status: int, words: str
) -> None:
    with server.client() as client:
        response = client.post(
            "/access/v1/evaluation",
            content=body,
            headers={"content-type": "application/json", "X-Request-ID": "bad-1"},
        )
        assert response.status_code == status
        assert words in response.json()["detail"]
        assert response.headers["x-request-id"] == "bad-1"


def test_limits_unauthenticated_callers_and_metadata(server: LiveServer) -> None:
    with server.client() as client:
        huge = evaluation("github.pulls.read", context={"blob": "x" * 70_000})
        assert client.post("/access/v1/evaluation", json=huge).status_code == 413
        too_many = {
            "subject": REVIEWER,
            "resource": PLATFORM,
            "evaluations": [{"action": {"name": "a"}}] * 10_001,
        }
        assert client.post("/access/v1/evaluations", json=too_many).status_code == 413
        bad_semantic = {
            "subject": REVIEWER,
            "resource": PLATFORM,
            "evaluations": [{"action": {"name": "a"}}],
            "options": {"evaluations_semantic": "first_come"},
        }
        assert client.post("/access/v1/evaluations", json=bad_semantic).status_code == 400
    with server.anonymous_client() as anonymous:
        refused = anonymous.post(
            "/access/v1/evaluation",
            json=evaluation("github.pulls.read"),
            headers={"X-Request-ID": "anon-7"},
        )
        assert refused.status_code == 401
        assert refused.headers["x-request-id"] == "anon-7"  # the PEP can match the refusal
        assert refused.headers["www-authenticate"].startswith("Bearer")
        unsafe = anonymous.post(
            "/access/v1/evaluation",
            json=evaluation("github.pulls.read"),
            headers={"X-Request-ID": "x" * 300},
        )
        assert unsafe.status_code == 401 and "x-request-id" not in unsafe.headers
        metadata = anonymous.get("/.well-known/authzen-configuration").json()
        assert metadata["policy_decision_point"] == server.url
        assert metadata["access_evaluation_endpoint"] == f"{server.url}/access/v1/evaluation"
        assert metadata["access_evaluations_endpoint"] == f"{server.url}/access/v1/evaluations"


def test_decisions_are_in_the_activity_log_after_a_clean_shutdown(tmp_path: Path) -> None:
    env = seed(tmp_path, roles=False)
    batch = {
        "subject": REVIEWER,
        "resource": PLATFORM,
        "evaluations": [
            {"action": {"name": "github.pulls.read"}},
            {"action": {"name": "github.pulls.merge"}},
        ]
        * 250,
    }
    with live_server(env) as running, running.client() as client:
        assert client.post("/access/v1/evaluations", json=batch).status_code == 200
    # the server was stopped (SIGTERM): its shutdown hook wrote every queued record
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'charter.db'}")
    with engine.connect() as connection:
        counts = dict(
            connection.execute(
                sa.text(
                    "SELECT allowed, count(*) FROM activities "
                    "WHERE source = 'authzen' GROUP BY allowed"
                )
            ).all()
        )
    engine.dispose()
    assert {bool(k): v for k, v in counts.items()} == {True: 250, False: 250}
