"""Owners through the governance API see and change only their own agents' governance.

The router alone, with the caller injected (the central security layer decides which
``/v1`` prefixes owners may reach at all; this checks what the router does once they do).
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support import governance_seed as seed

from charter.api import governance
from charter.http.problems import install_problem_handlers
from charter.http.security import principal_dep
from charter.services.auth import Principal, UserRole, Via
from charter.services.context import Services


def _client(services: Services, who: str, role: UserRole) -> TestClient:
    app = FastAPI()
    app.state.services = services
    install_problem_handlers(app)
    app.include_router(governance.router)
    app.dependency_overrides[principal_dep] = lambda: Principal(who, role, Via.API_TOKEN)
    return TestClient(app)


@pytest.fixture
def estate(sqlite_services: Services) -> Services:
    services = sqlite_services
    seed.seed_people_and_agents(services)  # summarizer: ada; release-notes: tom (departed)
    services.reconcile.apply(seed.aws_batch(services.clock.now()), actor="test")
    services.governance.evaluation.evaluate(actor="test")
    return services


def test_owners_see_and_change_only_their_own(estate: Services) -> None:
    sam = _client(estate, "sam@acme.example", UserRole.OWNER)
    ada = _client(estate, "ada@acme.example", UserRole.OWNER)
    admin = _client(estate, "root@acme.example", UserRole.ADMIN)
    everything = admin.get("/v1/findings").json()["items"]
    adas = ada.get("/v1/findings").json()["items"]
    assert adas and {f["owner"] for f in adas} == {"ada@acme.example"}
    assert len(everything) > len(adas)
    others = sam.get("/v1/findings", params={"owner": "ada@acme.example"})  # as /v1/agents?owner=
    assert others.status_code == 403 and others.json()["field"] == "owner"
    tom_finding = next(f for f in everything if f["owner"] == "tom@acme.example")
    hidden = ada.post(f"/v1/findings/{tom_finding['id']}/acknowledge", json={})
    assert hidden.status_code == 404  # as if it did not exist
    assert ada.post(f"/v1/findings/{adas[0]['id']}/acknowledge", json={}).status_code == 200
    assert ada.get("/v1/posture").status_code == 403
    assert ada.post("/v1/reviews", json={"scope": "all"}).status_code == 403

    campaign = admin.post("/v1/reviews", json={"scope": "all"}).json()
    mine = ada.get(f"/v1/reviews/{campaign['id']}").json()["items"]
    assert {i["reviewer"] for i in mine} == {"ada@acme.example"}
    as_someone_else = ada.post(
        f"/v1/reviews/{campaign['id']}/items/summarizer",
        json={"decision": "keep", "by": "sam@acme.example"},
    )
    assert as_someone_else.status_code == 403 and as_someone_else.json()["field"] == "by"
    kept = ada.post(f"/v1/reviews/{campaign['id']}/items/summarizer", json={"decision": "keep"})
    assert kept.status_code == 200 and kept.json()["decided_by"] == "ada@acme.example"

    request = {
        "agent": "summarizer",
        "action": "crm.write",
        "resource": "salesforce:x",
        "reason": "fix",
    }
    assert sam.post("/v1/access-requests", json=request).status_code == 404
    grant = ada.post("/v1/access-requests", json=request).json()
    assert sam.get("/v1/access-requests").json() == []
    approved = ada.post(f"/v1/access-requests/{grant['id']}/approve", json={})
    assert approved.json()["status"] == "approved"
    assert sam.get("/v1/decommissions/summarizer").status_code == 404
    assert admin.get("/v1/decommissions/summarizer").status_code == 200


def test_the_inbox_over_http_is_the_callers_own_unless_an_admin_asks(estate: Services) -> None:
    ada = _client(estate, "ada@acme.example", UserRole.OWNER)
    admin = _client(estate, "root@acme.example", UserRole.ADMIN)
    mine = ada.get("/v1/inbox")
    assert mine.status_code == 200
    findings = [i for i in mine.json() if i["section"] == "finding"]
    assert findings and all(i["action"].startswith("charter findings show ") for i in findings)
    refused = ada.get("/v1/inbox", params={"person": "sam@acme.example"})
    assert refused.status_code == 403 and refused.json()["field"] == "person"
    adas = admin.get("/v1/inbox", params={"person": "ada@acme.example"}).json()
    assert [i["id"] for i in adas] == [i["id"] for i in mine.json()]
    bad = admin.get("/v1/inbox", params={"person": "not-an-email"})
    assert bad.status_code in (400, 422) and bad.json()["field"] == "person"
    notices = admin.get("/v1/notices").json()
    assert all(n["delivery"] == [] for n in notices)  # no delivery section: nothing sent
