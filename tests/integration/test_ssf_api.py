"""The SSF management API in process (SQLite): admins manage streams, auditors read, owners
and anonymous callers are refused; PATCH keeps what it is not sent; verification events
reach the stream; the metadata names every endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from charter.domain import ssf
from charter.server import create_app
from charter.services.auth import UserRole
from charter.services.context import Services

ADMIN = "admin@acme.example"


def _token(services: Services, email: str, role: UserRole) -> dict[str, str]:
    services.auth.add_user(email, role=role, password=None, actor="test")
    secret = services.auth.keys.create_api_token(
        email, name="t", expires_in=None, actor="test"
    ).secret
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def client(sqlite_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_services)) as running:
        yield running


def test_stream_management(client: TestClient, sqlite_services: Services) -> None:
    admin = _token(sqlite_services, ADMIN, UserRole.ADMIN)
    auditor = _token(sqlite_services, "audit@acme.example", UserRole.AUDITOR)
    owner = _token(sqlite_services, "ada@acme.example", UserRole.OWNER)
    config = client.get("/.well-known/ssf-configuration").json()
    assert config["configuration_endpoint"].endswith("/v1/ssf/streams")
    assert config["jwks_uri"].endswith("/.well-known/jwks.json")
    push = {
        "method": ssf.PUSH,
        "endpoint_url": "https://siem.acme.example/ssf",
        "authorization_header": "Bearer s3cret",
    }
    created = client.post(
        "/v1/ssf/streams", json={"aud": "urn:siem", "delivery": push}, headers=admin
    )
    assert created.status_code == 201, created.text
    stream_id = created.json()["stream_id"]
    assert "authorization_header" not in created.json()["delivery"]
    assert client.post("/v1/ssf/streams", json={"aud": "x"}, headers=owner).status_code == 403
    assert client.post("/v1/ssf/streams", json={"aud": "x"}, headers=auditor).status_code == 403
    assert client.post("/v1/ssf/streams", json={"aud": "x"}).status_code == 401
    assert client.get("/v1/ssf/streams", headers=auditor).status_code == 200
    bad = client.post(
        "/v1/ssf/streams", json={"aud": "x", "delivery": {"method": "x"}}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["field"] == "delivery.method"

    patched = client.patch(
        "/v1/ssf/streams", json={"stream_id": stream_id, "description": "SOC"}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "SOC"
    stored = sqlite_services.ssf.streams.get(stream_id)
    assert stored.authorization_header == "Bearer s3cret" and stored.audience == "urn:siem"

    status = client.post(
        "/v1/ssf/status",
        json={"stream_id": stream_id, "status": "paused", "reason": "maintenance"},
        headers=admin,
    )
    assert status.json() == {"stream_id": stream_id, "status": "paused", "reason": "maintenance"}
    assert (
        client.get("/v1/ssf/status", params={"stream_id": stream_id}, headers=admin).json()[
            "status"
        ]
        == "paused"
    )
    wrong = client.post(
        "/v1/ssf/status", json={"stream_id": stream_id, "status": "on"}, headers=admin
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "status"

    subject = {"format": "iss_sub", "iss": "https://charter", "sub": "bot"}
    removed = client.post(
        "/v1/ssf/subjects:remove", json={"stream_id": stream_id, "subject": subject}, headers=admin
    )
    assert removed.status_code == 204
    odd = client.post(
        "/v1/ssf/subjects:add",
        json={"stream_id": stream_id, "subject": {"format": "phone"}},
        headers=admin,
    )
    assert odd.status_code == 422 and odd.json()["field"] == "subject"

    verify = client.post(
        "/v1/ssf/verify", json={"stream_id": stream_id, "state": "abc"}, headers=admin
    )
    assert verify.status_code == 204
    assert sqlite_services.ssf.outbox.counts()[stream_id] == {"pending": 1}
    missing = client.get("/v1/ssf/streams", params={"stream_id": "nope"}, headers=admin)
    assert missing.status_code == 404
    gone = client.delete("/v1/ssf/streams", params={"stream_id": stream_id}, headers=admin)
    assert gone.status_code == 204
    assert client.get("/v1/ssf/streams", headers=admin).json() == []
