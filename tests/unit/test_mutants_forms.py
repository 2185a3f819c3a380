"""Console forms: the CSRF check every POST goes through, field rules, error pages.

Written against surviving mutants of ``charter.web.forms``
(docs/mutation-testing.md). Console routes behind the real security middleware
over a real SQLite store and a real session: a form is accepted only with the
session's token from our own origin, and every refusal is a readable page with
the right status, heading and words.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse
from httpx import Response
from pydantic import BaseModel
from starlette.testclient import TestClient

from charter.config import Settings
from charter.errors import (
    CharterError,
    Conflict,
    InputTooLarge,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from charter.http.security import SESSION_COOKIE, SecurityMiddleware
from charter.services.auth import Principal, TooManyAttempts, UserRole, Via
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.web.forms import ConsoleRoute, FormDep, choice, field, require_role

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
BASE = "http://console.test"


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    size: int


class Outer(BaseModel):
    inner: Inner


def _app() -> FastAPI:
    router = APIRouter(route_class=ConsoleRoute)

    @router.post("/echo")
    async def echo(form: FormDep) -> PlainTextResponse:
        return PlainTextResponse(field(form, "name", limit=5))

    @router.get("/fail/{status}")
    async def fail(status: int) -> PlainTextResponse:
        errors: dict[int, CharterError] = {
            400: CharterError("odd"),
            401: Unauthenticated("who are you"),
            403: PermissionDenied("no"),
            404: NotFound("gone"),
            409: Conflict("already there"),
            413: InputTooLarge("big"),
            422: InvalidInput("bad", field="x"),
            429: TooManyAttempts("slow down", retry_after=5),
        }
        raise errors[status]

    @router.get("/typed")
    async def typed(count: int) -> PlainTextResponse:
        return PlainTextResponse(str(count))

    @router.get("/two")
    async def two(first: int, second: int) -> PlainTextResponse:
        return PlainTextResponse(str(first + second))

    @router.post("/nested")
    async def nested(body: Outer) -> PlainTextResponse:
        return PlainTextResponse(str(body.inner.size))

    app = FastAPI()
    app.include_router(router)
    return app


@dataclass(frozen=True)
class Console:
    client: TestClient
    cookie: dict[str, str]
    csrf: str


@dataclass(frozen=True)
class Store:
    services: Services
    token: str
    csrf: str


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    home: Path = tmp_path_factory.mktemp("forms")
    url = f"sqlite:///{home / 'charter.db'}"
    services = Services.from_settings(Settings(home=home, database_url=url), clock=FixedClock(NOW))
    services.auth.add_user("ada@acme.example", role=UserRole.ADMIN, password=None, actor="t")
    grant = services.auth.start_session("ada@acme.example", method="oidc")
    yield Store(services, grant.token, grant.csrf)
    services.close()


@pytest.fixture
def console(store: Store) -> Iterator[Console]:
    """A fresh app per test (its routes are built per test, so each test covers them)."""
    with TestClient(SecurityMiddleware(_app(), store.services), base_url=BASE) as client:
        yield Console(client, {"cookie": f"{SESSION_COOKIE}={store.token}"}, store.csrf)


def page(response: Response) -> tuple[int, str, str, str]:
    """(status, <title>, <h1>, detail paragraph) of an error page."""
    text = response.text
    title = re.search(r"<title>(.*?)</title>", text)
    heading = re.search(r"<h1>(.*?)</h1>", text)
    detail = re.search(r'<p class="status">HTTP \d+</p>\s*<p>(.*?)</p>', text, re.S)
    assert title and heading and detail, text
    assert f"HTTP {response.status_code}" in text
    return response.status_code, title.group(1), heading.group(1), detail.group(1)


def test_a_form_with_the_sessions_token_is_accepted(console: Console) -> None:
    answer = console.client.post(
        "/echo", data={"csrf_token": console.csrf, "name": "  bob "}, headers=console.cookie
    )
    assert (answer.status_code, answer.text) == (200, "bob")
    same_origin = {**console.cookie, "origin": BASE}
    answer = console.client.post(
        "/echo", data={"csrf_token": console.csrf, "name": "x"}, headers=same_origin
    )
    assert answer.text == "x"


@pytest.mark.parametrize(
    ("data", "origin"),
    [
        ({"name": "bob"}, None),
        ({"name": "bob", "csrf_token": "wrong"}, None),
        ({"name": "bob", "csrf_token": ""}, None),
        ({"name": "bob", "csrf_token": "CSRF"}, "https://evil.test"),
    ],
)
def test_a_form_without_the_token_or_from_elsewhere_is_refused(
    console: Console, data: dict[str, str], origin: str | None
) -> None:
    data = {k: console.csrf if v == "CSRF" else v for k, v in data.items()}
    headers = {**console.cookie, **({"origin": origin} if origin else {})}
    answer = console.client.post("/echo", data=data, headers=headers)
    assert page(answer) == (
        403,
        "Not allowed · Charter",
        "Not allowed",
        "csrf_token: the form&#39;s security token is missing or wrong; reload the page and try "
        "again",
    )


def test_an_unreadable_form_is_a_422_page(console: Console) -> None:
    files = [("f", (f"{i}.txt", b"x", "text/plain")) for i in range(3)]
    answer = console.client.post(
        "/echo", data={"csrf_token": console.csrf}, files=files, headers=console.cookie
    )
    status, title, heading, detail = page(answer)
    assert (status, title, heading) == (
        422,
        "Please check the input · Charter",
        "Please check the input",
    )
    assert detail.startswith("form: the form could not be read: ")


def test_field_rules_show_as_pages(console: Console) -> None:
    def post(**data: str) -> Response:
        return console.client.post(
            "/echo", data={"csrf_token": console.csrf, **data}, headers=console.cookie
        )

    assert page(post())[3] == "name: name is required"
    assert page(post(name="   "))[3] == "name: name is required"
    assert page(post(name="toolong"))[3] == "name: name may be at most 5 characters"
    assert post(name="fives").text == "fives"


def test_errors_become_pages_with_their_heading(console: Console) -> None:
    conflict = console.client.get("/fail/409", headers=console.cookie)
    assert page(conflict) == (
        409,
        "That cannot be done now · Charter",
        "That cannot be done now",
        "already there",
    )
    assert page(console.client.get("/fail/422", headers=console.cookie))[3] == "x: bad"
    typed = console.client.get("/typed?count=many", headers=console.cookie)
    status, _, heading, detail = page(typed)
    assert (status, heading) == (422, "Please check the input")
    assert detail.startswith("count: ")
    missing = console.client.get("/typed", headers=console.cookie)
    assert page(missing)[3] == "count: Field required"


def test_a_form_field_that_is_a_file_counts_as_missing(console: Console) -> None:
    answer = console.client.post(
        "/echo",
        data={"csrf_token": console.csrf},
        files={"name": ("n.txt", b"bob", "text/plain")},
        headers=console.cookie,
    )
    assert page(answer)[3] == "name: name is required"


def test_an_optional_field_is_empty_when_absent() -> None:
    from starlette.datastructures import FormData

    form = FormData([("a", " x ")])
    assert field(form, "b", required=False) == ""
    assert field(form, "a", required=False) == "x"
    assert field(FormData([("a", "")]), "a", required=False) == ""
    assert field(FormData([("a", "x" * 2000)]), "a") == "x" * 2000
    with pytest.raises(InvalidInput) as caught:
        field(FormData([("a", "x" * 2001)]), "a")
    assert (caught.value.message, caught.value.field) == ("a may be at most 2000 characters", "a")


def test_choice_is_optional_and_names_what_is_allowed() -> None:
    assert choice(Colour, "", name="colour") is None
    assert choice(Colour, "red", name="colour") is Colour.RED
    with pytest.raises(InvalidInput) as caught:
        choice(Colour, "green", name="colour")
    assert (caught.value.message, caught.value.field) == ("colour is one of: red, blue", "colour")


def test_require_role_names_the_roles_a_page_is_for() -> None:
    owner = Principal("bo@acme.example", UserRole.OWNER, Via.SESSION)
    require_role(owner, UserRole.OWNER)
    with pytest.raises(PermissionDenied) as caught:
        require_role(owner, UserRole.ADMIN, UserRole.AUDITOR)
    assert (caught.value.message, caught.value.field) == (
        "this page is for: admin, auditor",
        "role",
    )


@pytest.mark.parametrize(
    ("status", "heading", "title"),
    [
        (400, "CharterError", "Error"),
        (401, "Please sign in", "Please sign in"),
        (403, "Not allowed", "Not allowed"),
        (404, "Not found", "Not found"),
        (413, "Too large", "Too large"),
        (429, "Too many attempts", "Too many attempts"),
    ],
)
def test_each_status_has_its_heading(
    console: Console, status: int, heading: str, title: str
) -> None:
    answer = console.client.get(f"/fail/{status}", headers=console.cookie)
    assert page(answer)[:3] == (status, f"{title} · Charter", heading)


def test_a_form_takes_at_most_two_files_and_200_fields(console: Console) -> None:
    def post(files: int, fields: int) -> int:
        data = {"csrf_token": console.csrf, "name": "bob"}
        data.update({f"f{i}": "x" for i in range(fields - len(data))})
        upload = [("file", (f"{i}.txt", b"x", "text/plain")) for i in range(files)]
        answer = console.client.post("/echo", data=data, files=upload, headers=console.cookie)
        return answer.status_code

    assert post(files=2, fields=198) == 200  # 198 fields and 2 files: 200 parts
    assert post(files=3, fields=3) == 422  # the "please check the input" page
    assert post(files=0, fields=201) == 422


def test_several_validation_errors_are_joined_with_their_paths(console: Console) -> None:
    both = console.client.get("/two", headers=console.cookie)
    assert page(both)[3] == "first: Field required; second: Field required"
    deep = console.client.post(
        "/nested", json={"inner": {"size": "big"}}, headers={**console.cookie}
    )
    status, _, heading, detail = page(deep)
    assert (status, heading) == (422, "Please check the input")
    assert detail.startswith("inner.size: ")
