"""Bad input at the console, in process with a fake clock (SQLite and PostgreSQL).

Forged or missing CSRF tokens on *every* console form, a foreign Origin, expired
sessions, another owner's ids in URLs, oversized uploads, and charters with
script in their text: refused, or rendered as inert text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from charter.domain.charter_parsing import MAX_CHARTER_BYTES, parse_charter_text
from charter.domain.lifecycle import Transition
from charter.server import create_app
from charter.services.auth import SESSION_IDLE, UserRole
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import parse_directory
from charter.web.forms import ConsoleRoute

ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = {
    "admin@acme.example": "admin-password-1",
    "maria.garcia@acme.example": "maria-pass-1234",
    "ada.osei@acme.example": "auditor-pass-12",
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(services: Services) -> Iterator[TestClient]:
    people = (ROOT / "examples" / "people.json").read_bytes()
    services.people.import_records(parse_directory(people, filename="people.json"), actor="t")
    for file in ("support-summarizer.yaml", "finance-reconciler.yaml"):
        spec = parse_charter_text((ROOT / "examples" / "agents" / file).read_bytes())
        services.registry.register(spec, actor="t")
    roles = {
        "admin@acme.example": UserRole.ADMIN,
        "maria.garcia@acme.example": UserRole.OWNER,
        "ada.osei@acme.example": UserRole.AUDITOR,
    }
    for email, role in roles.items():
        services.auth.add_user(email, role=role, password=PASSWORDS[email], actor="t")
    with TestClient(create_app(services), base_url="http://console.test") as client:
        yield client


def sign_in(client: TestClient, email: str) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    client.cookies.clear()
    page = client.get("/login")
    token = _CSRF.search(page.text)
    assert token
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORDS[email], "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get("/")
    found = _CSRF.search(home.text)
    assert found
    return found.group(1)


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, through included routers (kept lazily by this FastAPI)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


def _console_posts(client: TestClient) -> list[str]:
    paths = []
    for route in _routes(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, ConsoleRoute) and "POST" in route.methods:
            if route.path == "/login":
                continue  # its own (double-submit) token: see test_auth_api
            paths.append(
                route.path.replace("{name}", "support-summarizer")
                .replace("{finding_id}", "f-1")
                .replace("{campaign}", "rv-1")
                .replace("{agent}", "support-summarizer")
            )
    return paths


def test_every_console_form_refuses_a_missing_or_forged_token(app: TestClient) -> None:
    token = sign_in(app, "admin@acme.example")
    posts = _console_posts(app)
    assert len(posts) >= 10, posts  # adopt, dismiss, transition, transfer, decommission, …
    before = app.get("/v1/audit", params={"limit": 1000}, headers={"x-csrf-token": token}).json()
    for path in posts:
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": token + "x"}):
            response = app.post(
                path,
                data={"reason": "x", "to": "li.wei@acme.example", **data},
                follow_redirects=False,
            )
            assert response.status_code == 403, (path, data, response.status_code)
            assert "security token" in response.text
        foreign = app.post(
            path,
            data={"csrf_token": token, "reason": "x"},
            headers={"origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert foreign.status_code == 403, path
    after = app.get("/v1/audit", params={"limit": 1000}).json()
    assert len(after) == len(before)  # nothing happened
    ok = app.post(
        "/agents/support-summarizer/transition",
        data={"csrf_token": token, "transition": "activate", "reason": "approved"},
        follow_redirects=False,
    )
    assert ok.status_code == 303  # the same form with the real token works


def test_an_expired_session_goes_back_to_sign_in(app: TestClient, clock: FixedClock) -> None:
    token = sign_in(app, "admin@acme.example")
    clock.advance(seconds=SESSION_IDLE.total_seconds() + 1)
    page = app.get("/agents", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fagents"
    write = app.post(
        "/agents/support-summarizer/transition",
        data={"csrf_token": token, "transition": "activate", "reason": "x"},
        follow_redirects=False,
    )
    assert write.status_code == 303 and write.headers["location"] == "/login?next=%2F"
    assert app.get("/v1/agents").status_code == 401


def test_another_owners_ids_in_urls(app: TestClient, services: Services) -> None:
    token = sign_in(app, "maria.garcia@acme.example")
    for path in (
        "/agents/finance-reconciler",
        "/agents/finance-reconciler/decommission",
        "/map?agent=finance-reconciler",
        "/credentials?agent=finance-reconciler",
    ):
        assert app.get(path).status_code == 404, path
    for path, data in (
        ("/agents/finance-reconciler/transition", {"transition": "suspend", "reason": "x"}),
        ("/agents/finance-reconciler/transfer", {"to": "maria.garcia@acme.example"}),
        ("/agents/finance-reconciler/decommission", {"reason": "x"}),
    ):
        response = app.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
        assert response.status_code == 404, path
    assert services.registry.get("finance-reconciler").owner == "priya.nair@acme.example"
    # and an owner cannot approve their own agent
    response = app.post(
        "/agents/support-summarizer/transition",
        data={"csrf_token": token, "transition": "activate", "reason": "me"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert services.registry.get("support-summarizer").state.value == "proposed"


def test_oversized_uploads_are_refused(app: TestClient) -> None:
    token = sign_in(app, "admin@acme.example")
    big = b"name: x\n" + b"#" * (MAX_CHARTER_BYTES + 10)
    response = app.post(
        "/agents/new",
        data={"csrf_token": token},
        files={"file": ("big.yaml", big, "application/yaml")},
    )
    assert response.status_code == 413 and "larger than" in response.text
    huge = app.post(
        "/agents/new",
        content=b"x" * (17 * 1024 * 1024),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert huge.status_code == 413
    garbage = app.post(
        "/agents/new",
        data={"csrf_token": token},
        files={"file": ("x.yaml", b"\xff\xfe\x00binary", "application/yaml")},
    )
    assert garbage.status_code == 422 and "UTF-8" in garbage.text


def test_script_in_a_charter_is_escaped(app: TestClient) -> None:
    token = sign_in(app, "admin@acme.example")
    charter = (
        "name: evil\nowner: maria.garcia@acme.example\n"
        "purpose: '<script>alert(1)</script><img src=x onerror=alert(2)>'\n"
        "labels: {note: '\"><svg onload=alert(3)><script>alert(4)</script>'}\n"
    )
    response = app.post(
        "/agents/new", data={"csrf_token": token, "charter": charter}, follow_redirects=True
    )
    assert response.status_code == 200
    for path in ("/agents/evil", "/agents", "/audit?target=evil"):
        html = app.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "<svg onload" not in html, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in app.get("/agents/evil").text
    headers = app.get("/agents/evil").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


def test_auditors_console_posts_are_refused(app: TestClient, services: Services) -> None:
    token = sign_in(app, "ada.osei@acme.example")
    for path in _console_posts(app):
        if path == "/logout":
            continue
        response = app.post(
            path,
            data={
                "csrf_token": token,
                "reason": "x",
                "transition": "suspend",
                "scope": "all",
                "to": "li.wei@acme.example",
            },
            follow_redirects=False,
        )
        assert response.status_code in (403, 404), (path, response.status_code)
    assert services.registry.get("support-summarizer").state.value == "proposed"


def test_the_audit_page_says_what_its_verification_checked(app: TestClient) -> None:
    """'None was altered' only with the keyed links checked, and then naming the key."""
    sign_in(app, "ada.osei@acme.example")
    page = app.get("/audit", params={"verify": 1})
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert "✔ The chain verifies:" in text
    assert "none was altered (keyed links checked with chain key " in text
    assert "were not checked" not in text


def test_the_testers_deny_reasons_name_each_rule_once(app: TestClient, services: Services) -> None:
    services.registry.transition(
        "support-summarizer", Transition.ACTIVATE, actor="t", reason="for the tester"
    )
    sign_in(app, "admin@acme.example")
    page = app.get(
        "/decisions",
        params={
            "agent": "support-summarizer",
            "action": "tickets.read",
            "resource": "zendesk:tickets/4711",
        },
    )
    assert page.status_code == 200
    rule = "charter/support-summarizer/deny/1"  # restricted tickets: no context rules it out
    assert rule in page.text
    assert f"({rule}) <span" not in page.text and page.text.count(rule) == 1, page.text
