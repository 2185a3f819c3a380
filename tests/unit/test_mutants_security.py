"""The security middleware in front of every route: zones, credentials, CSRF, headers.

Written against surviving mutants of ``charter.http.security``
(docs/mutation-testing.md). A small app behind the real middleware, over a real
SQLite store with real users, sessions, API tokens and PEP keys: each refusal's
status, problem code and challenge, the CSRF check on session writes, and the
hardening headers each zone gets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from httpx import Response
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from charter.config import Settings
from charter.errors import NotFound, PermissionDenied, Unauthenticated
from charter.http.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from charter.http.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    SecurityMiddleware,
    api_refusal,
    may_transition,
    principal_dep,
    require_owns,
    require_transition,
    require_writer,
    same_origin,
    visible_owner,
)
from charter.services.auth import Principal, UserRole, Via
from charter.services.clock import FixedClock
from charter.services.context import Services

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
BASE = "http://charter.test"
TITLES = {
    (401, "unauthenticated"): "Unauthenticated",
    (403, "forbidden"): "PermissionDenied",
    (403, "csrf"): "CSRFRefused",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@dataclass(frozen=True)
class Estate:
    client: TestClient
    admin_session: str
    admin_csrf: str
    owner_token: str
    auditor_token: str
    pep_key: str


def _app() -> FastAPI:
    app = FastAPI()

    async def whoami(request: Request) -> PlainTextResponse:
        principal = principal_dep(request)
        return PlainTextResponse(f"{principal.subject}|{principal.via.value}")

    for path in ("/v1/agents", "/v1/people", "/v1/findings/evaluate", "/v1/users"):
        app.add_api_route(path, whoami, methods=["GET", "POST"])
    app.add_api_route("/access/v1/evaluation", whoami, methods=["POST"])
    app.add_api_route("/agents", whoami, methods=["GET", "POST"])
    app.add_api_route("/healthz", lambda: PlainTextResponse("ok"), methods=["GET"])
    app.add_api_route("/login", lambda: PlainTextResponse("login"), methods=["GET"])
    app.add_api_route("/login/{step}", lambda: PlainTextResponse("step"), methods=["GET"])

    async def own_headers() -> PlainTextResponse:
        headers = {
            "cache-control": "max-age=5",
            "x-frame-options": "SAMEORIGIN",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "content-security-policy": "default-src 'none'",
            "x-request-id": "mine",
        }
        return PlainTextResponse("own", headers=headers)

    app.add_api_route("/own", own_headers, methods=["GET"])

    async def body(request: Request) -> PlainTextResponse:
        return PlainTextResponse((await request.body()).decode())

    app.add_api_route("/v1/agents/body", body, methods=["POST"])
    app.add_api_route("/login/body", body, methods=["POST"])
    app.add_api_route("/access/v1/own", own_headers, methods=["POST"])
    return app


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    home: Path = tmp_path_factory.mktemp("security")
    url = f"sqlite:///{home / 'charter.db'}"
    services = Services.from_settings(Settings(home=home, database_url=url), clock=FixedClock(NOW))
    auth = services.auth
    auth.add_user("ada@acme.example", role=UserRole.ADMIN, password=None, actor="t")
    auth.add_user("bo@acme.example", role=UserRole.OWNER, password=None, actor="t")
    auth.add_user("cy@acme.example", role=UserRole.AUDITOR, password=None, actor="t")
    session = auth.start_session("ada@acme.example", method="oidc")
    owner = auth.keys.create_api_token("bo@acme.example", name="ci", expires_in=None, actor="t")
    auditor = auth.keys.create_api_token("cy@acme.example", name="ro", expires_in=None, actor="t")
    pep = auth.keys.add_pep_key("gateway", actor="t")
    app = SecurityMiddleware(_app(), services)
    with TestClient(app, base_url=BASE) as client:
        yield Estate(client, session.token, session.csrf, owner.secret, auditor.secret, pep.secret)
    services.close()


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def problem(response: Response) -> tuple[int, str, str]:
    """(status, problem code, detail) of a problem answer, checking its title and instance."""
    body = response.json()
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert body["title"] == TITLES[response.status_code, body["type"].removeprefix(PROBLEM_BASE)]
    assert body["instance"] == response.request.url.path
    return response.status_code, body["type"].removeprefix(PROBLEM_BASE), body["detail"]


def test_an_api_token_reaches_the_api_as_its_user(estate: Estate) -> None:
    answer = estate.client.get("/v1/agents", headers=bearer(estate.owner_token))
    assert answer.status_code == 200
    assert answer.text == "bo@acme.example|api_token"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in answer.headers


def test_an_unknown_api_token_is_401_invalid_token(estate: Estate) -> None:
    answer = estate.client.get("/v1/agents", headers=bearer("chpat_nope"))
    assert problem(answer) == (
        401,
        "unauthenticated",
        "the API token is unknown, expired or revoked",
    )
    assert answer.headers["www-authenticate"] == 'Bearer realm="charter", error="invalid_token"'


def test_a_pep_key_is_not_an_api_token_nor_the_reverse(estate: Estate) -> None:
    answer = estate.client.get("/v1/agents", headers=bearer(estate.pep_key))
    assert answer.status_code == 401
    pdp = estate.client.post("/access/v1/evaluation", headers=bearer(estate.owner_token))
    assert pdp.status_code == 401
    assert pdp.headers["www-authenticate"] == 'Bearer realm="charter", error="invalid_token"'
    assert pdp.json()["detail"] == (
        "the AuthZEN endpoints need a PEP key: 'Authorization: Bearer chpep_…' "
        "(create one with 'charter pep add NAME')"
    )


def test_the_pdp_takes_a_pep_key_and_echoes_the_request_id(estate: Estate) -> None:
    headers = {**bearer(estate.pep_key), "x-request-id": "req-42"}
    answer = estate.client.post("/access/v1/evaluation", headers=headers)
    assert answer.status_code == 200
    assert answer.text == "gateway|pep_key"
    assert answer.headers["x-request-id"] == "req-42"
    refused = estate.client.post("/access/v1/evaluation", headers={"x-request-id": "req-43"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "req-43"
    assert refused.headers["www-authenticate"] == 'Bearer realm="charter"'
    assert (
        "x-request-id" not in estate.client.get("/healthz", headers={"x-request-id": "r"}).headers
    )


def test_no_credential_on_the_api_is_401_without_an_error(estate: Estate) -> None:
    estate.client.cookies.clear()
    answer = estate.client.get("/v1/agents")
    assert problem(answer) == (
        401,
        "unauthenticated",
        "sign in, or send a personal API token: 'Authorization: Bearer chpat_…' "
        "(create one with 'charter api-tokens create')",
    )
    assert answer.headers["www-authenticate"] == 'Bearer realm="charter"'


def test_roles_on_the_api(estate: Estate) -> None:
    owner, auditor = bearer(estate.owner_token), bearer(estate.auditor_token)
    assert estate.client.post("/v1/agents", headers=owner).status_code == 200
    assert problem(estate.client.post("/v1/findings/evaluate", headers=owner)) == (
        403,
        "forbidden",
        "only an admin may do this",
    )
    assert problem(estate.client.get("/v1/users", headers=owner))[:2] == (403, "forbidden")
    assert estate.client.get("/v1/people", headers=owner).status_code == 200
    assert estate.client.get("/v1/users", headers=auditor).status_code == 200
    assert problem(estate.client.post("/v1/agents", headers=auditor)) == (
        403,
        "forbidden",
        "auditors have read-only access",
    )


def session(estate: Estate) -> dict[str, str]:
    return {"cookie": f"{SESSION_COOKIE}={estate.admin_session}"}


def test_a_session_reads_the_api_and_the_console(estate: Estate) -> None:
    api = estate.client.get("/v1/agents", headers=session(estate))
    assert api.text == "ada@acme.example|session"
    console = estate.client.get("/agents", headers=session(estate))
    assert console.status_code == 200
    assert console.headers["content-security-policy"] == CSP
    assert console.headers["cache-control"] == "no-store"


def test_a_session_write_needs_the_csrf_header_and_our_origin(estate: Estate) -> None:
    good = {**session(estate), CSRF_HEADER: estate.admin_csrf}
    assert estate.client.post("/v1/agents", headers=good).status_code == 200
    for headers in (
        session(estate),
        {**session(estate), CSRF_HEADER: "wrong"},
        {**good, "origin": "https://evil.test"},
    ):
        assert problem(estate.client.post("/v1/agents", headers=headers)) == (
            403,
            "csrf",
            "a missing or wrong CSRF token",
        )
    assert estate.client.post("/v1/agents", headers={**good, "origin": BASE}).status_code == 200


def test_the_console_sends_anonymous_visitors_to_sign_in(estate: Estate) -> None:
    estate.client.cookies.clear()
    answer = estate.client.get("/agents?q=a", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fagents%3Fq%3Da"
    plain = estate.client.get("/agents", follow_redirects=False)
    assert plain.headers["location"] == "/login?next=%2Fagents"
    write = estate.client.post("/agents?x=1", follow_redirects=False)
    assert write.headers["location"] == "/login?next=%2F"
    unknown = estate.client.get(
        "/agents", headers={"cookie": f"{SESSION_COOKIE}=nope"}, follow_redirects=False
    )
    assert unknown.status_code == 303


def test_open_paths_need_nothing_and_login_is_private(estate: Estate) -> None:
    health = estate.client.get("/healthz")
    assert health.text == "ok"
    assert "cache-control" not in health.headers
    assert "content-security-policy" not in health.headers
    login = estate.client.get("/login")
    assert login.headers["cache-control"] == "no-store"
    assert login.headers["content-security-policy"] == CSP


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, True),
        ({"origin": "null"}, False),
        ({"origin": "https://charter.test", "host": "charter.test"}, True),
        ({"origin": "http://charter.test", "host": "charter.test"}, True),
        ({"origin": "ftp://charter.test", "host": "charter.test"}, False),
        ({"origin": "https://charter.test:8443", "host": "charter.test"}, False),
    ],
)
def test_same_origin(headers: dict[str, str], expected: bool) -> None:
    assert same_origin(Headers(headers), "https") is expected


ADMIN = Principal("ada@acme.example", UserRole.ADMIN, Via.SESSION)
OWNER = Principal("bo@acme.example", UserRole.OWNER, Via.SESSION)
AUDITOR = Principal("cy@acme.example", UserRole.AUDITOR, Via.SESSION)


def test_owner_scope_and_the_not_found_it_answers() -> None:
    assert visible_owner(ADMIN) is None
    assert visible_owner(OWNER) == "bo@acme.example"
    require_owns(OWNER, "Bo@Acme.Example", name="a")
    require_owns(ADMIN, "someone@acme.example", name="a")
    with pytest.raises(NotFound) as caught:
        require_owns(OWNER, "other@acme.example", name="bot", what="review")
    assert (caught.value.message, caught.value.field) == ("no review named 'bot'", "name")


def test_writers_and_transitions() -> None:
    require_writer(OWNER)
    with pytest.raises(PermissionDenied) as caught:
        require_writer(AUDITOR)
    assert (caught.value.message, caught.value.field) == ("auditors have read-only access", "role")
    assert may_transition(ADMIN, "activate") is True
    assert may_transition(OWNER, "suspend") is True
    assert may_transition(OWNER, "activate") is False
    assert may_transition(AUDITOR, "suspend") is False
    with pytest.raises(PermissionDenied) as refused:
        require_transition(OWNER, "activate")
    assert refused.value.message == (
        "only an admin may activate an agent (an owner cannot approve their own)"
    )
    assert refused.value.field == "transition"


def test_a_route_without_a_principal_refuses() -> None:
    request = Request({"type": "http", "state": {}, "headers": []})
    with pytest.raises(Unauthenticated):
        principal_dep(request)


def test_only_a_bearer_scheme_with_one_token_is_a_bearer(estate: Estate) -> None:
    estate.client.cookies.clear()
    spaced = estate.client.get("/v1/agents", headers={"authorization": "Bearer tok extra"})
    assert spaced.headers["www-authenticate"] == 'Bearer realm="charter", error="invalid_token"'
    basic = estate.client.get("/v1/agents", headers={"authorization": "Basic abc"})
    assert basic.headers["www-authenticate"] == 'Bearer realm="charter"'


def test_the_session_cookie_is_found_among_others(estate: Estate) -> None:
    for cookie in (
        f"theme=dark; {SESSION_COOKIE}={estate.admin_session}",
        f"{SESSION_COOKIE}={estate.admin_session}; theme=dark",
        f"empty=; {SESSION_COOKIE}={estate.admin_session}",
    ):
        answer = estate.client.get("/v1/agents", headers={"cookie": cookie})
        assert answer.text == "ada@acme.example|session", cookie


def test_an_api_token_does_not_open_the_console(estate: Estate) -> None:
    estate.client.cookies.clear()
    answer = estate.client.get(
        "/agents", headers=bearer(estate.owner_token), follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fagents"


def test_the_pdp_refusal_is_a_problem_for_its_path(estate: Estate) -> None:
    answer = estate.client.post("/access/v1/evaluation", headers=bearer("chpep_nope"))
    assert problem(answer)[:2] == (401, "unauthenticated")


def test_refusal_words_for_owners_and_other_credentials() -> None:
    assert api_refusal(OWNER, "GET", "/v1/users") == (
        "owners may use the API only for their own agents, findings, reviews and tasks"
    )
    pep = Principal("gw", None, Via.PEP_KEY)
    assert api_refusal(pep, "GET", "/v1/agents") == "this credential cannot use the management API"


def test_an_http_console_accepts_its_https_origin() -> None:
    headers = Headers({"origin": "https://charter.test", "host": "charter.test"})
    assert same_origin(headers, "http") is True


def test_default_words_of_the_owner_and_principal_checks() -> None:
    with pytest.raises(NotFound) as caught:
        require_owns(OWNER, "other@acme.example", name="bot")
    assert caught.value.message == "no agent named 'bot'"
    with pytest.raises(Unauthenticated) as anonymous:
        principal_dep(Request({"type": "http", "state": {}, "headers": []}))
    assert anonymous.value.message == "sign in first"
    require_transition(OWNER, "suspend")
    require_transition(ADMIN, "activate")


def test_headers_a_route_sets_are_kept_not_doubled(estate: Estate) -> None:
    answer = estate.client.get("/own", headers=session(estate))
    raw = [name.lower() for name, _ in answer.headers.raw]
    names = (b"cache-control", b"x-frame-options", b"x-content-type-options")
    for name in (*names, b"referrer-policy", b"content-security-policy"):
        assert raw.count(name) == 1, name
    assert answer.headers["cache-control"] == "max-age=5"
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    pdp = estate.client.post(
        "/access/v1/own", headers={**bearer(estate.pep_key), "x-request-id": "theirs"}
    )
    assert [name.lower() for name, _ in pdp.headers.raw].count(b"x-request-id") == 1


def test_the_sign_in_steps_get_the_console_policy(estate: Estate) -> None:
    step = estate.client.get("/login/oidc")
    assert step.text == "step"
    assert step.headers["content-security-policy"] == CSP
    assert "cache-control" not in step.headers


def test_a_request_body_reaches_the_route(estate: Estate) -> None:
    """The middleware passes the receive channel on, on open and on authenticated paths."""
    sent = estate.client.post(
        "/v1/agents/body", content=b"hello", headers=bearer(estate.owner_token)
    )
    assert sent.text == "hello"
    assert estate.client.post("/login/body", content=b"open").text == "open"
