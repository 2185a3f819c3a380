"""``OwnerReach`` in process on a small estate: each resolver, its edges, and that a refusal
is word for word the missing id's answer (the live walk is ``test_owner_reach.py``)."""

from __future__ import annotations

import pytest
from tests.support import governance_seed as seed

from charter.errors import NotFound, PermissionDenied
from charter.services.auth import Principal, UserRole, Via
from charter.services.context import Services
from charter.services.owner_reach import OwnerReach, reaches

ADA, SAM = "ada@acme.example", "sam@acme.example"  # ada owns summarizer; sam owns nothing


def _reach(services: Services, who: str, role: UserRole = UserRole.OWNER) -> OwnerReach:
    return OwnerReach(services, Principal(who, role, Via.API_TOKEN))


@pytest.fixture
def estate(sqlite_services: Services) -> Services:
    seed.seed_people_and_agents(sqlite_services)  # release-notes: tom (departed, manager ada)
    return sqlite_services


def test_the_one_predicate() -> None:
    owner = Principal(ADA, UserRole.OWNER, Via.SESSION)
    assert reaches(owner, "ADA@acme.example") and reaches(owner, None, ADA)
    assert not reaches(owner, SAM) and not reaches(owner, None) and not reaches(owner)
    for role in (UserRole.ADMIN, UserRole.AUDITOR):
        assert reaches(Principal(SAM, role, Via.SESSION), ADA)


def test_agents_and_filters(estate: Services) -> None:
    ada, sam, admin = (
        _reach(estate, ADA),
        _reach(estate, SAM),
        _reach(estate, "r@x", UserRole.ADMIN),
    )
    assert ada.agent("summarizer").owner == ADA
    with pytest.raises(NotFound) as refused:
        sam.agent("summarizer")
    with pytest.raises(NotFound) as missing:
        estate.registry.get("no-such-agent")
    assert refused.value.field == missing.value.field == "name"
    assert refused.value.message == missing.value.message.replace("no-such-agent", "summarizer")
    assert admin.agent("summarizer").name == "summarizer"
    assert ada.agent_filter("summarizer") == "summarizer" and ada.agent_filter(None) is None
    with pytest.raises(NotFound):
        sam.agent_filter("summarizer")
    assert admin.agent_filter("no-such-agent") == "no-such-agent"  # admins filter freely
    assert ada.owner_filter(None) == ADA and ada.owner_filter(" Ada@acme.example ") == ADA
    with pytest.raises(PermissionDenied) as other:
        ada.owner_filter(SAM, field="recipient")
    assert other.value.field == "recipient"
    assert admin.owner_filter(" Sam@acme.example") == SAM and admin.owner_filter("") is None
    assert ada.agent_names() == frozenset({"summarizer"}) and sam.agent_names() == frozenset()
    assert admin.agent_names() is None and admin.scope is None and ada.scope == ADA


def test_review_items_reach_owner_and_reviewer(estate: Services) -> None:
    campaign = estate.governance.reviews.start("all", actor="test")
    items = {i.agent: i for i in campaign.items}
    assert items["release-notes"].reviewer == ADA  # tom left: his manager reviews
    ada, sam = _reach(estate, ADA), _reach(estate, SAM)
    assert ada.review_item(campaign.id, "release-notes").agent == "release-notes"
    assert ada.review_item_visible(items["release-notes"], ada.agent_names())
    assert not sam.review_item_visible(items["summarizer"], sam.agent_names())
    with pytest.raises(NotFound) as refused:
        sam.review_item(campaign.id, "summarizer")
    with pytest.raises(NotFound) as missing:
        estate.governance.reviews.item(campaign.id, "nobody")
    assert refused.value.message == missing.value.message.replace("nobody", "summarizer")
    reviews = estate.governance.reviews
    assert {i.agent for i in reviews.plan_start("all", owner=ADA.upper()).items} == {"summarizer"}
    with pytest.raises(NotFound):  # nothing of sam's: not everyone's
        reviews.plan_start("all", owner=SAM)


def test_access_requests_tasks_and_pending_owners(estate: Services) -> None:
    grant = estate.governance.jit.request(
        "summarizer", action="crm.write", resource="salesforce:x", reason="fix", actor=ADA
    )
    ada, sam = _reach(estate, ADA), _reach(estate, SAM)
    assert ada.access_request(grant.id).id == grant.id
    with pytest.raises(NotFound) as refused:
        sam.access_request(grant.id)
    with pytest.raises(NotFound) as missing:
        estate.governance.jit.get("jit-none")
    assert refused.value.message == missing.value.message.replace("jit-none", grant.id)
    with pytest.raises(NotFound):
        sam.pending_agent("summarizer")
    assert ada.pending_agent("summarizer").name == "summarizer"
