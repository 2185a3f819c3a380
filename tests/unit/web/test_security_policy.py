"""The zone of every path and what each role may call: pure rules, tested exhaustively."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from charter.errors import NotFound
from charter.http.security import (
    OWNER_API_PREFIXES,
    Zone,
    api_refusal,
    require_owns,
    same_origin,
    zone_of,
)
from charter.services.auth import Principal, UserRole, Via
from charter.web.oidc import pkce_challenge, pkce_pair
from charter.web.signin import safe_next

ADMIN = Principal("ada@acme.example", UserRole.ADMIN, Via.SESSION)
OWNER = Principal("bo@acme.example", UserRole.OWNER, Via.API_TOKEN)
AUDITOR = Principal("cy@acme.example", UserRole.AUDITOR, Via.SESSION)
PEP = Principal("gw", None, Via.PEP_KEY)


@pytest.mark.parametrize(
    ("path", "zone"),
    [
        ("/healthz", Zone.OPEN),
        ("/docs", Zone.OPEN),
        ("/openapi.json", Zone.OPEN),
        ("/.well-known/authzen-configuration", Zone.OPEN),
        ("/.well-known/jwks.json", Zone.OPEN),
        ("/oauth/token", Zone.OPEN),
        ("/login", Zone.OPEN),
        ("/login/oidc/callback", Zone.OPEN),
        ("/static/console.css", Zone.OPEN),
        ("/access/v1/evaluation", Zone.PDP),
        ("/access", Zone.PDP),
        ("/v1/agents", Zone.API),
        ("/v1", Zone.API),
        ("/", Zone.CONSOLE),
        ("/agents/x", Zone.CONSOLE),
        ("/logout", Zone.CONSOLE),
        ("/loginx", Zone.CONSOLE),  # a prefix is not a path segment
        ("/v1x/agents", Zone.CONSOLE),
        ("/accessories", Zone.CONSOLE),
        ("/healthz/extra", Zone.CONSOLE),
        ("/something-added-later", Zone.CONSOLE),  # unknown paths are closed
    ],
)
def test_zones(path: str, zone: Zone) -> None:
    assert zone_of(path) == zone


def test_admin_may_do_everything() -> None:
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert api_refusal(ADMIN, method, "/v1/anything") is None


def test_auditor_reads_only() -> None:
    assert api_refusal(AUDITOR, "GET", "/v1/audit") is None
    assert api_refusal(AUDITOR, "GET", "/v1/findings") is None
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (
            api_refusal(AUDITOR, method, "/v1/agents/x/suspend") == "auditors have read-only access"
        )


def test_owner_is_limited_to_scoped_prefixes() -> None:
    assert api_refusal(OWNER, "POST", "/v1/agents/x/suspend") is None
    assert api_refusal(OWNER, "GET", "/v1/people") is None
    assert api_refusal(OWNER, "POST", "/v1/people/import") is not None
    assert api_refusal(OWNER, "GET", "/v1/audit") is not None  # not scoped: closed
    assert api_refusal(OWNER, "GET", "/v1/identities") is not None
    assert api_refusal(OWNER, "POST", "/v1/findings/f1/acknowledge") is None  # scoped by router
    assert api_refusal(OWNER, "POST", "/v1/findings/evaluate") == "only an admin may do this"
    assert api_refusal(OWNER, "POST", "/v1/notices") is not None
    assert api_refusal(OWNER, "GET", "/v1/agentsx") is not None
    assert all(prefix.startswith("/v1/") for prefix, _ in OWNER_API_PREFIXES)


def test_a_pep_key_cannot_manage() -> None:
    assert api_refusal(PEP, "GET", "/v1/agents") is not None
    assert str(PEP) == "pep:gw" and str(OWNER) == "bo@acme.example"
    assert not PEP.may_write and not AUDITOR.may_write and OWNER.may_write


def test_owners_cannot_see_others_objects() -> None:
    require_owns(OWNER, "BO@acme.example", name="mine")
    require_owns(ADMIN, "someone@acme.example", name="theirs")
    with pytest.raises(NotFound):
        require_owns(OWNER, "someone@acme.example", name="theirs")


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"host": "127.0.0.1:8000"}, True),  # no Origin: the CSRF token decides
        ({"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8000"}, True),
        ({"host": "127.0.0.1:8000", "origin": "http://evil.example"}, False),
        ({"host": "127.0.0.1:8000", "origin": "null"}, False),
        ({"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8001"}, False),
    ],
)
def test_same_origin(headers: dict[str, str], ok: bool) -> None:
    assert same_origin(Headers(headers), "http") is ok


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/agents?page=2", "/agents?page=2"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/login", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_urls_stay_on_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_pkce_matches_rfc7636_appendix_b() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128 and pkce_challenge(verifier) == challenge
