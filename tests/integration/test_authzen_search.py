"""The AuthZEN Search API against a real ``charter serve`` on SQLite: the three searches,
every result re-checked with ``/access/v1/evaluation``, pages that cover all results
once, refused page tokens, bad input, the PEP key, and the metadata."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.integration.test_decisions_authzen import seed
from tests.support.server import LiveServer, live_server

SUMMARIZER = {"type": "agent", "id": "support-summarizer"}
REVIEWER = {"type": "agent", "id": "code-reviewer"}
INTERNAL = {"data": {"classification": "internal"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(seed(tmp_path_factory.mktemp("authzen-search"))) as running:
        yield running


def search(client: httpx.Client, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/access/v1/search/{kind}", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    assert next(iter(answer)) == "page"  # first, as AuthZEN recommends
    return answer


def allowed(client: httpx.Client, request: dict[str, Any]) -> bool:
    decision = client.post("/access/v1/evaluation", json=request).json()["decision"]
    assert isinstance(decision, bool)
    return decision


def test_resource_search_returns_the_charters_grant_and_evaluation_agrees(
    server: LiveServer,
) -> None:
    action = {"name": "tickets.comments.read"}
    with server.client() as client:
        answer = search(
            client,
            "resource",
            {
                "subject": SUMMARIZER,
                "action": action,
                "resource": {"type": "zendesk"},
                "context": INTERNAL,
            },
        )
        assert answer == {
            "page": {"next_token": "", "count": 1, "total": 1},
            "results": [{"type": "zendesk", "id": "tickets/*", "properties": {"pattern": True}}],
        }
        for result in answer["results"]:
            request = {"subject": SUMMARIZER, "action": action, "context": INTERNAL}
            assert allowed(client, {**request, "resource": {"type": "zendesk", "id": result["id"]}})
        # without the classification the charter's deny cannot be ruled out: nothing is allowed
        unknown = search(
            client,
            "resource",
            {"subject": SUMMARIZER, "action": action, "resource": {"type": "zendesk"}},
        )
        assert unknown["results"] == [] and unknown["page"]["total"] == 0
        slack = search(
            client,
            "resource",
            {
                "subject": SUMMARIZER,
                "action": {"name": "slack.post_message"},
                "resource": {"type": "slack", "id": "ignored"},
            },
        )
        assert slack["results"] == [{"type": "slack", "id": "channels/support-digest"}]


def test_action_search_lists_only_what_evaluation_allows(server: LiveServer) -> None:
    resource = {"type": "github", "id": "acme/platform-api"}
    with server.client() as client:
        answer = search(client, "action", {"subject": REVIEWER, "resource": resource})
        names = [result["name"] for result in answer["results"]]
        assert "github.pulls.read" in names and "github.pulls.comment" in names
        assert "github.pulls.merge" not in names  # the charter denies it
        assert names == sorted(names) and answer["page"]["total"] == len(names)
        for name in names:
            assert allowed(
                client, {"subject": REVIEWER, "action": {"name": name}, "resource": resource}
            )


def test_subject_search_finds_agents_and_people(server: LiveServer) -> None:
    with server.client() as client:
        agents = search(
            client,
            "subject",
            {
                "subject": {"type": "agent", "id": "ignored"},
                "action": {"name": "github.pulls.read"},
                "resource": {"type": "github", "id": "acme/platform-api"},
            },
        )
        assert agents["results"] == [{"type": "agent", "id": "code-reviewer"}]
        people = search(
            client,
            "subject",
            {
                "subject": {"type": "user"},
                "action": {"name": "tickets.comments.read"},
                "resource": {"type": "zendesk", "id": "tickets/4711"},
            },
        )
        emails = [result["id"] for result in people["results"]]
        assert "maria.garcia@acme.example" in emails  # support, through the support-agent role
        assert "priya.nair@acme.example" not in emails  # finance
        assert all(result["type"] == "user" for result in people["results"])


def test_pages_cover_every_result_once_and_tokens_are_bound(server: LiveServer) -> None:
    query = {
        "subject": {"type": "user"},
        "action": {"name": "tickets.comments.read"},
        "resource": {"type": "zendesk", "id": "tickets/4711"},
    }
    with server.client() as client:
        whole = search(client, "subject", query)["results"]
        assert len(whole) >= 3
        seen: list[dict[str, Any]] = []
        page: dict[str, Any] = {"limit": 2}
        while True:
            answer = search(client, "subject", {**query, "page": page})
            assert answer["page"]["count"] == len(answer["results"]) <= 2
            assert answer["page"]["total"] == len(whole)
            seen.extend(answer["results"])
            token = answer["page"]["next_token"]
            if not token:
                break
            page = {"limit": 2, "token": token}
        assert seen == whole
        first = search(client, "subject", {**query, "page": {"limit": 2}})["page"]["next_token"]
        refusals = {
            "altered": {
                **query,
                "page": {"limit": 2, "token": first[:-2] + ("AA" if first[-2:] != "AA" else "BB")},
            },
            "truncated": {**query, "page": {"limit": 2, "token": first[:10]}},
            "garbage": {**query, "page": {"limit": 2, "token": "not a token!"}},
            "other limit": {**query, "page": {"limit": 3, "token": first}},
            "other action": {
                **query,
                "action": {"name": "tickets.read"},
                "page": {"limit": 2, "token": first},
            },
        }
        for case, body in refusals.items():
            response = client.post("/access/v1/search/subject", json=body)
            assert response.status_code == 400, case
            assert response.headers["content-type"] == "application/problem+json", case
            assert response.json()["field"] == "page.token", case
        counted = search(client, "subject", {**query, "page": {"limit": 0}})
        assert counted == {
            "page": {"next_token": "", "count": 0, "total": len(whole)},
            "results": [],
        }


HEAD = (
    b'{"subject": {"type": "agent", "id": "x"}, "action": {"name": "a"}, "resource": {"type": "z"},'
)
BAD = [
    (b"{nope", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"action": {"name": "a"}, "resource": {"type": "zendesk"}}', "subject is required"),
    (
        b'{"subject": {"type": "agent"}, "action": {"name": "a"}, "resource": {"type": "z"}}',
        "subject.id",
    ),
    (
        b'{"subject": {"type": "agent", "id": "x"}, "action": {}, "resource": {"type": "z"}}',
        "action.name",
    ),
    (
        b'{"subject": {"type": "agent", "id": "x"}, "action": {"name": "a"}, "resource": {}}',
        "resource.type",
    ),
    (
        b'{"subject": {"id": "x"}, "action": {"name": "a"}, "resource": {"type": "z"}}',
        "subject.type",
    ),
    (
        HEAD + b' "context": [1]}',
        "context must be a JSON object",
    ),
    (
        HEAD + b' "page": {"limit": -1}}',
        "page.limit",
    ),
    (
        HEAD + b' "page": {"limit": true}}',
        "page.limit",
    ),
    (
        HEAD + b' "page": {"limit": "5"}}',
        "page.limit",
    ),
    (
        HEAD + b' "page": {"sort": "id"}}',
        "page.sort",
    ),
    (
        HEAD + b' "page": {"token": 7}}',
        "page.token",
    ),
]


@pytest.mark.parametrize(("body", "words"), BAD)
def test_malformed_searches_are_400_problems(server: LiveServer, body: bytes, words: str) -> None:
    with server.client() as client:
        response = client.post(
            "/access/v1/search/resource",
            content=body,
            headers={"content-type": "application/json", "X-Request-ID": "search-bad"},
        )
        assert response.status_code == 400, response.text
        assert words in response.json()["detail"]
        assert response.headers["x-request-id"] == "search-bad"


def test_unknown_subjects_get_no_results_with_the_reason_and_nothing_is_recorded(
    server: LiveServer,
) -> None:
    with server.client() as client:
        ghost = search(
            client,
            "resource",
            {
                "subject": {"type": "agent", "id": "ghost"},
                "action": {"name": "a"},
                "resource": {"type": "zendesk"},
            },
        )
        assert ghost["results"] == []
        assert ghost["context"]["reasons"][0]["code"] == "unknown_agent"
        nobody = search(
            client,
            "action",
            {
                "subject": {"type": "user", "id": "nobody@acme.example"},
                "resource": {"type": "z", "id": "1"},
            },
        )
        assert (
            nobody["results"] == [] and nobody["context"]["reasons"][0]["code"] == "unknown_subject"
        )
    time.sleep(0.6)  # the activity writer flushes every 200 ms: anything queued is written
    engine = sa.create_engine(f"sqlite:///{server.env['CHARTER_HOME']}/charter.db")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT count(*) FROM activities WHERE agent = 'ghost'")
        ).scalar_one()
    engine.dispose()
    assert rows == 0  # a search decides nothing, so records nothing


def test_search_needs_a_pep_key_and_the_metadata_names_every_endpoint(server: LiveServer) -> None:
    body = {"subject": REVIEWER, "resource": {"type": "github", "id": "acme/platform-api"}}
    with server.anonymous_client() as anonymous:
        for kind in ("subject", "resource", "action"):
            assert anonymous.post(f"/access/v1/search/{kind}", json=body).status_code == 401
        metadata = anonymous.get("/.well-known/authzen-configuration").json()
    assert metadata == {
        "policy_decision_point": server.url,
        "access_evaluation_endpoint": f"{server.url}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{server.url}/access/v1/evaluations",
        "search_subject_endpoint": f"{server.url}/access/v1/search/subject",
        "search_resource_endpoint": f"{server.url}/access/v1/search/resource",
        "search_action_endpoint": f"{server.url}/access/v1/search/action",
    }
