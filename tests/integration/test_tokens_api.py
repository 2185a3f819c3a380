"""The OAuth endpoints over HTTP (in-process ASGI) and the SDK against them: status codes,
RFC 6749 §5.2 bodies, one test per refusal path, DPoP, enrolment codes, discovery."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.unit.tokens.estate import Estate

from charter.domain.enums import PersonStatus
from charter.domain.lifecycle import Transition
from charter.domain.tokens.jwk import Alg, PrivateKey, generate_private_key, jwk_from_public_key
from charter.domain.tokens.requests import TokenRequest
from charter.sdk import AgentCredentials, TokenError, TokenVerifier
from charter.server import create_app
from charter.services.auth import UserRole
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import PersonRecord

AGENT = "support-summarizer"
MARIA = "maria.garcia@acme.example"
BASE = "http://testserver"


@pytest.fixture
def estate(sqlite_services: Services, clock: FixedClock) -> Iterator[Estate]:
    built = Estate(sqlite_services, clock)
    yield built
    sqlite_services.tokens.close()
    sqlite_services.decisions.close()


@pytest.fixture
def client(estate: Estate) -> Iterator[TestClient]:
    with TestClient(create_app(estate.services), base_url=BASE) as test_client:
        yield test_client


def _post(client: TestClient, request: TokenRequest, path: str = "/oauth/token") -> httpx.Response:
    pairs = [(k, v) for k, values in request.params.items() for v in values]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if request.dpop:
        headers["DPoP"] = request.dpop
    return client.post(path, content=urlencode(pairs), headers=headers)


def test_discovery_documents(client: TestClient, estate: Estate) -> None:
    meta = client.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == estate.tokens.issuer
    assert meta["token_endpoint"] == estate.tokens.issuer + "/oauth/token"
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in meta["grant_types_supported"]
    assert meta["dpop_signing_alg_values_supported"]
    jwks = client.get("/.well-known/jwks.json")
    assert jwks.headers["content-type"].startswith("application/jwk-set+json")
    assert all("d" not in key and key["kid"] for key in jwks.json()["keys"])


def test_a_token_over_http_with_rfc6749_headers(client: TestClient, estate: Estate) -> None:
    key = estate.enrol(AGENT)
    response = _post(client, estate.request(AGENT, key, scope="tickets.read"))
    assert response.status_code == 200, response.text
    assert (
        response.headers["cache-control"] == "no-store" and response.headers["pragma"] == "no-cache"
    )
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    wrong_type = client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert wrong_type.status_code == 400 and wrong_type.json()["error"] == "invalid_request"


def _suspend(estate: Estate) -> None:
    estate.clock.advance(seconds=0.5)
    estate.transition(AGENT, Transition.SUSPEND)


def _depart(estate: Estate) -> None:
    maria = estate.services.people.get(MARIA)
    record = PersonRecord(
        email=MARIA, name=maria.name, status=PersonStatus.DEPARTED, groups=list(maria.groups)
    )
    estate.services.people.import_records([record], actor="hr")


# path → (request builder, setup, expected HTTP status, expected error, expected charter_reason)
PATHS: dict[
    str,
    tuple[
        Callable[[Estate, PrivateKey], TokenRequest], Callable[[Estate], None] | None, int, str, str
    ],
] = {
    "expired assertion": (
        lambda e, k: e.request(
            AGENT, k, assertion=e.assertion(AGENT, k, iat=e.now - 400, exp=e.now - 300)
        ),
        None,
        401,
        "invalid_client",
        "assertion_expired",
    ),
    "wrong audience": (
        lambda e, k: e.request(
            AGENT, k, assertion=e.assertion(AGENT, k, aud="https://elsewhere.example")
        ),
        None,
        401,
        "invalid_client",
        "wrong_audience",
    ),
    "unknown key": (
        lambda e, k: e.request(AGENT, generate_private_key(Alg.EDDSA)),
        None,
        401,
        "invalid_client",
        "unknown_key",
    ),
    "suspended agent": (
        lambda e, k: e.request(AGENT, k),
        _suspend,
        400,
        "unauthorized_client",
        "agent_not_active",
    ),
    "scope escalation": (
        lambda e, k: e.request(AGENT, k, scope="tickets.delete"),
        None,
        400,
        "invalid_scope",
        "scope_escalation",
    ),
    "delegation not allowed": (
        lambda e, k: e.exchange_request(
            "code-reviewer", e.enrol("code-reviewer"), e.person_token("jonas.berg@acme.example")
        ),
        None,
        400,
        "invalid_grant",
        "delegation_not_allowed",
    ),
    "delegator departed": (
        lambda e, k: e.exchange_request(AGENT, k, e.person_token(MARIA)),
        _depart,
        400,
        "invalid_grant",
        "delegator_departed",
    ),
    "dpop wrong htu": (
        lambda e, k: e.request(
            AGENT,
            k,
            dpop=e.dpop(generate_private_key(Alg.ES256), htu="https://evil.example/oauth/token"),
        ),
        None,
        400,
        "invalid_dpop_proof",
        "dpop_wrong_htu",
    ),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_each_refusal_path_over_http(client: TestClient, estate: Estate, path: str) -> None:
    build, setup, status, error, reason = PATHS[path]
    key = estate.enrol(AGENT)
    request = build(estate, key)
    if setup:
        setup(estate)
    response = _post(client, request)
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["error"], body["charter_reason"]) == (error, reason)
    assert body["error_description"]
    assert response.headers["cache-control"] == "no-store"


def test_a_replayed_jti_over_http(client: TestClient, estate: Estate) -> None:
    key = estate.enrol(AGENT)
    request = estate.request(AGENT, key)
    assert _post(client, request).status_code == 200
    again = _post(client, request)
    assert again.status_code == 401 and again.json()["charter_reason"] == "jti_replayed"


def test_a_replayed_dpop_proof_over_http(client: TestClient, estate: Estate) -> None:
    key = estate.enrol(AGENT)
    proof = estate.dpop(generate_private_key(Alg.ES256), htu=BASE + "/oauth/token")
    first = _post(client, estate.request(AGENT, key, dpop=proof))
    assert (
        first.status_code == 200
        and first.json()["token_type"] == "DPoP"
        and "dpop-nonce" in first.headers
    )
    again = _post(client, estate.request(AGENT, key, dpop=proof))
    assert again.status_code == 400
    assert (again.json()["error"], again.json()["charter_reason"]) == (
        "invalid_dpop_proof",
        "dpop_replayed",
    )


def test_introspection_and_revocation_need_client_authentication(
    client: TestClient, estate: Estate
) -> None:
    key = estate.enrol(AGENT)
    token = estate.issue(AGENT, key).access_token
    anonymous = client.post("/oauth/introspect", data={"token": token})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"

    def authenticated(path: str, **form: str) -> httpx.Response:
        request = estate.request(AGENT, key, grant_type=None, **form)
        return _post(client, request, path)

    answer = authenticated("/oauth/introspect", token=token)
    assert (
        answer.status_code == 200
        and answer.json()["active"] is True
        and answer.json()["sub"] == AGENT
    )
    assert (
        authenticated("/oauth/revoke", token=token, token_type_hint="access_token").status_code
        == 200
    )
    assert authenticated("/oauth/introspect", token=token).json() == {"active": False}
    assert authenticated("/oauth/revoke", token="garbage").status_code == 200  # RFC 7009 §2.2
    unsupported = authenticated("/oauth/revoke", token=token, token_type_hint="refresh_token")
    assert (
        unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_token_type"
    )


def test_resource_servers_and_operators_introspect_with_console_credentials(
    client: TestClient, estate: Estate
) -> None:
    token = estate.issue(AGENT, estate.enrol(AGENT)).access_token
    auth = estate.services.auth
    pep = auth.keys.add_pep_key("gateway", actor="test").secret
    answer = client.post(
        "/oauth/introspect", data={"token": token}, headers={"Authorization": f"Bearer {pep}"}
    )
    assert answer.status_code == 200 and answer.json()["client_id"] == AGENT
    wrong = client.post(
        "/oauth/introspect", data={"token": token}, headers={"Authorization": "Bearer chpep_nope"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    refused = client.post(
        "/oauth/revoke", data={"token": token}, headers={"Authorization": f"Bearer {pep}"}
    )
    assert refused.status_code == 403
    assert estate.tokens.introspect(token)["active"] is True


def test_an_agent_introspects_only_tokens_issued_to_it(client: TestClient, estate: Estate) -> None:
    """RFC 7662 §4: another enrolled agent learns nothing about a token, not even that it is
    active; the holder, a PEP key and an admin do. Auditors are not resource servers."""
    token = estate.issue(AGENT, estate.enrol(AGENT)).access_token
    other = "code-reviewer"
    other_key = estate.enrol(other)
    snooped = _post(
        client, estate.request(other, other_key, grant_type=None, token=token), "/oauth/introspect"
    )
    assert snooped.status_code == 200 and snooped.json() == {"active": False}
    own = estate.issue(other, other_key).access_token
    mine = _post(
        client, estate.request(other, other_key, grant_type=None, token=own), "/oauth/introspect"
    )
    assert mine.json()["active"] is True and mine.json()["client_id"] == other
    auth = estate.services.auth
    for email, role in (
        ("root@acme.example", UserRole.ADMIN),
        ("ada@acme.example", UserRole.AUDITOR),
    ):
        auth.add_user(email, role=role, password=None, actor="test")
    admin = auth.keys.create_api_token(
        "root@acme.example", name="t", expires_in=None, actor="test"
    ).secret
    auditor = auth.keys.create_api_token(
        "ada@acme.example", name="t", expires_in=None, actor="test"
    ).secret
    by_admin = client.post(
        "/oauth/introspect", data={"token": token}, headers={"Authorization": f"Bearer {admin}"}
    )
    assert by_admin.json()["active"] is True and by_admin.json()["client_id"] == AGENT
    by_auditor = client.post(
        "/oauth/introspect", data={"token": token}, headers={"Authorization": f"Bearer {auditor}"}
    )
    assert by_auditor.status_code == 403 and by_auditor.json()["error"] == "unauthorized_client"


def test_enrolment_codes_over_rfc7591(client: TestClient, estate: Estate) -> None:
    code = estate.tokens.issue_enrolment_code(AGENT, actor="ops").code
    creds = AgentCredentials.enroll(
        code, base_url=BASE, http=client, clock=lambda: estate.clock.now().timestamp()
    )
    assert creds.client_id == AGENT
    assert creds.token("tickets.read").scope == ("tickets.read",)
    jwks = {"keys": [jwk_from_public_key(generate_private_key(Alg.EDDSA).public_key())]}
    again = client.post(
        "/oauth/register", json={"jwks": jwks}, headers={"Authorization": f"Bearer {code}"}
    )
    assert again.status_code == 401 and again.headers["www-authenticate"].startswith("Bearer")
    no_code = client.post("/oauth/register", json={})
    assert no_code.status_code == 401


def _sdk(estate: Estate, client: TestClient, key: PrivateKey, **options: Any) -> AgentCredentials:
    return AgentCredentials(
        AGENT,
        key,
        base_url=BASE,
        http=client,
        clock=lambda: estate.clock.now().timestamp(),
        **options,
    )


def test_the_sdk_caches_refreshes_and_verifies(client: TestClient, estate: Estate) -> None:
    creds = _sdk(estate, client, estate.enrol(AGENT))
    first = creds.token("tickets.read")
    assert creds.token("tickets.read") is first  # cached
    estate.clock.advance(seconds=900 - 59)  # within the refresh margin
    second = creds.token("tickets.read")
    assert second.value != first.value and not second.expires_within(
        60, estate.clock.now().timestamp()
    )
    verifier = TokenVerifier(
        BASE,
        audience=estate.tokens.issuer,
        http=client,
        clock=lambda: estate.clock.now().timestamp(),
    )
    assert verifier.verify(second.value)["client_id"] == AGENT
    with pytest.raises(TokenError) as tampered:
        verifier.verify(
            second.value[:-4] + ("AAAA" if not second.value.endswith("AAAA") else "BBBB")
        )
    assert tampered.value.error == "invalid_token"
    assert creds.introspect(second.value)["active"] is True
    creds.revoke(second.value)
    assert creds.introspect(second.value) == {"active": False}
    with pytest.raises(TokenError) as refused:
        creds.token("tickets.delete")
    assert (refused.value.error, refused.value.status, refused.value.reason) == (
        "invalid_scope",
        400,
        "scope_escalation",
    )
    headers = creds.headers("GET", "https://api.acme.example/t", scope="tickets.read")
    assert headers["Authorization"].startswith("Bearer ")


def test_the_sdk_does_dpop_with_server_nonces_and_token_exchange(
    client: TestClient, estate: Estate
) -> None:
    estate.tokens.require_dpop_nonce = True
    creds = _sdk(estate, client, estate.enrol(AGENT), dpop=True)
    token = creds.token("tickets.read")
    assert token.token_type == "DPoP" and token.claims["cnf"]["jkt"]
    url = "https://api.acme.example/tickets"
    headers = creds.headers("GET", url, scope="tickets.read")
    verified = estate.tokens.verify_authorization(
        headers["Authorization"], headers["DPoP"], method="GET", url=url
    )
    assert verified.jkt == token.claims["cnf"]["jkt"]
    delegated = creds.exchange(estate.person_token(MARIA), scope="tickets.read")
    assert delegated.claims["sub"] == MARIA and delegated.claims["act"]["sub"] == AGENT
    assert delegated.issued_token_type == "urn:ietf:params:oauth:token-type:access_token"


def test_form_parsing_keeps_repeated_resources(estate: Estate) -> None:
    body = (
        "grant_type=client_credentials"
        "&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example"
    )
    request = TokenRequest.form(body.encode())
    assert request.resources() == ("https://a.example", "https://b.example")
    assert dict(parse_qsl(body))["grant_type"] == "client_credentials"
