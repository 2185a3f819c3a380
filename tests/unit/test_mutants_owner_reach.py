"""Mutation tests for ``services/owner_reach.py``: every resolver's reach and refusal.

The resolvers run over small in-memory stand-ins for the registry and the
governance services (the store's own behaviour is tested elsewhere; here only
the owner rule is); ``agent_names`` reads the real SQLite store
(docs/mutation-testing.md; the live walk is tests/integration/test_owner_reach*.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import pytest
from tests.support import governance_seed as seed

from charter.errors import NotFound, PermissionDenied
from charter.services.auth import Principal, UserRole, Via
from charter.services.context import Services
from charter.services.owner_reach import OwnerReach, reaches

ADA, SAM, BOB = "ada@acme.example", "sam@acme.example", "bob@acme.example"


@dataclass
class Thing:
    """Whatever a stand-in service returns: only the attributes the rule reads."""

    name: str = ""
    owner: str | None = None
    pending_owner: str | None = None
    agent: str = ""
    reviewer: str | None = None
    assignee: str | None = None


class Store:
    """A stand-in service: ``get`` (and ``item``) by key, else the store's NotFound."""

    def __init__(self, things: dict[str, Thing], missing: str) -> None:
        self.things, self.missing = things, missing
        self.asked: list[tuple[str, Any]] = []

    def get(self, key: str, **options: Any) -> Thing:
        self.asked.append((key, options))
        key = key.strip().lower()  # ids and names are matched as the stores match them
        if key not in self.things:
            raise NotFound(self.missing.format(key), field="name")
        return self.things[key]

    def item(self, campaign: str, agent: str) -> Thing:
        return self.get(f"{campaign}/{agent}")


AGENTS: dict[str, Any] = {
    "summarizer": Thing(name="summarizer", owner=ADA),
    "moving": Thing(name="moving", owner=SAM, pending_owner=ADA),
    "orphan": Thing(name="orphan", owner=None),
}


def _services() -> Services:
    governance = SimpleNamespace(
        findings=Store({"f-ada": Thing(owner=ADA), "f-none": Thing()}, "no finding {}"),
        reviews=Store(
            {
                "c1/summarizer": Thing(agent="summarizer", reviewer=SAM),
                "c1/moving": Thing(agent="moving", reviewer=None),
            },
            "no item {}",
        ),
        jit=Store(
            {"jit-1": Thing(agent="summarizer"), "jit-2": Thing(agent="gone")}, "no grant {}"
        ),
        rotation=Store({"rot-1": Thing(owner=ADA)}, "no rotation {}"),
        tasks=Store({"task-1": Thing(assignee=ADA)}, "no task {}"),
    )
    registry = Store(AGENTS, "no agent named {!r}")
    return cast(Services, SimpleNamespace(registry=registry, governance=governance))


def _reach(
    who: str, role: UserRole = UserRole.OWNER, services: Services | None = None
) -> OwnerReach:
    return OwnerReach(services or _services(), Principal(who, role, Via.API_TOKEN))


def _refusal(call: Any, *args: Any) -> tuple[str | None, str]:
    with pytest.raises(NotFound) as caught:
        call(*args)
    return caught.value.field, caught.value.message


def test_the_predicate() -> None:
    ada = Principal(ADA, UserRole.OWNER, Via.SESSION)
    assert reaches(ada, ADA.upper()) and reaches(ada, None, ADA) and reaches(ada, SAM, ADA)
    assert not reaches(ada, SAM) and not reaches(ada, None) and not reaches(ada)
    assert not reaches(ada, SAM, None)
    for role in (UserRole.ADMIN, UserRole.AUDITOR):
        assert reaches(Principal(SAM, role, Via.SESSION), ADA) and reaches(
            Principal(SAM, role, Via.SESSION)
        )


def test_agents() -> None:
    ada, sam, admin = _reach(ADA), _reach(SAM), _reach(BOB, UserRole.ADMIN)
    assert ada.principal.subject == ADA
    assert ada.agent("summarizer") is AGENTS["summarizer"]
    assert admin.agent("orphan") is AGENTS["orphan"]
    assert _refusal(sam.agent, "summarizer") == ("name", "no agent named 'summarizer'")
    assert _refusal(ada.agent, "orphan") == ("name", "no agent named 'orphan'")
    assert _refusal(ada.agent, "moving") == ("name", "no agent named 'moving'")


def test_pending_owners_reach_the_agent_they_take_over() -> None:
    ada, sam, bob = _reach(ADA), _reach(SAM), _reach(BOB)
    assert ada.pending_agent("moving") is AGENTS["moving"]  # the pending owner
    assert sam.pending_agent("moving") is AGENTS["moving"]  # the owner
    assert ada.pending_agent("summarizer") is AGENTS["summarizer"]
    assert _refusal(bob.pending_agent, "moving") == ("name", "no agent named 'moving'")


def test_filters() -> None:
    ada, admin = _reach(ADA), _reach(BOB, UserRole.ADMIN)
    assert ada.agent_filter("summarizer") == "summarizer" and ada.agent_filter(None) is None
    assert ada.agent_filter("") == ""
    assert _refusal(ada.agent_filter, "moving") == ("name", "no agent named 'moving'")
    assert admin.agent_filter("no-such-agent") == "no-such-agent"
    assert ada.owner_filter(None) == ADA and ada.owner_filter("") == ADA
    assert ada.owner_filter(" Ada@Acme.example ") == ADA
    with pytest.raises(PermissionDenied) as other:
        ada.owner_filter(f" {SAM}")
    assert other.value.field == "owner"
    assert other.value.message == f"an owner lists only their own, not owner ' {SAM}'"
    with pytest.raises(PermissionDenied) as named:
        ada.owner_filter(SAM, field="recipient")
    assert named.value.field == "recipient"
    assert named.value.message == f"an owner lists only their own, not recipient '{SAM}'"
    assert admin.owner_filter(" Sam@Acme.example ") == SAM
    assert admin.owner_filter(None) is None and admin.owner_filter("") is None
    assert admin.scope is None and ada.scope == ADA


def test_findings_are_looked_up_within_the_owners_own() -> None:
    services = _services()
    ada, sam = _reach(ADA, services=services), _reach(SAM, services=services)
    admin = _reach(BOB, UserRole.ADMIN, services=services)
    findings = services.governance.findings
    assert ada.finding("f-ada") is findings.things["f-ada"]  # type: ignore[attr-defined]
    assert findings.asked[-1] == ("f-ada", {"owner": ADA})  # type: ignore[attr-defined]
    assert admin.finding("f-none").owner is None
    assert findings.asked[-1] == ("f-none", {"owner": None})  # type: ignore[attr-defined]
    assert _refusal(sam.finding, " F-Ada ") == ("id", "no finding 'f-ada'")
    assert _refusal(sam.finding, "f-ada") == ("id", "no finding 'f-ada'")


def test_review_items_reach_the_agents_owner_and_the_reviewer() -> None:
    ada, sam, bob = _reach(ADA), _reach(SAM), _reach(BOB)
    admin = _reach(BOB, UserRole.ADMIN)
    assert ada.review_item("c1", "summarizer").agent == "summarizer"  # the owner
    assert sam.review_item("c1", "summarizer").agent == "summarizer"  # the reviewer
    assert sam.review_item("c1", "moving").agent == "moving"
    assert admin.review_item("c1", "moving").agent == "moving"
    refused = ("agent", "agent 'summarizer' is not in review 'c1'")
    assert _refusal(bob.review_item, "c1", "summarizer") == refused
    assert _refusal(ada.review_item, "c1", "moving") == (
        "agent",
        "agent 'moving' is not in review 'c1'",
    )


def test_review_items_in_listings() -> None:
    ada, sam, admin = _reach(ADA), _reach(SAM), _reach(BOB, UserRole.ADMIN)
    item: Any = Thing(agent="summarizer", reviewer=SAM)
    nobodys: Any = Thing(agent="x", reviewer=None)
    assert admin.review_item_visible(item, None)
    assert ada.review_item_visible(item, frozenset({"summarizer"}))
    assert sam.review_item_visible(item, frozenset())  # the reviewer
    assert not ada.review_item_visible(item, frozenset({"other"}))
    assert not ada.review_item_visible(nobodys, frozenset())


def test_access_requests_follow_their_agents_owner() -> None:
    ada, sam, admin = _reach(ADA), _reach(SAM), _reach(BOB, UserRole.ADMIN)
    assert ada.access_request("jit-1").agent == "summarizer"
    assert admin.access_request("jit-2").agent == "gone"  # its agent is gone: admins only
    assert _refusal(sam.access_request, "jit-1") == ("id", "no access request 'jit-1'")
    assert _refusal(ada.access_request, "jit-2") == ("id", "no access request 'jit-2'")


def test_rotations_and_tasks() -> None:
    ada, sam, admin = _reach(ADA), _reach(SAM), _reach(BOB, UserRole.ADMIN)
    assert ada.rotation("rot-1").owner == ADA and admin.rotation("rot-1").owner == ADA
    assert _refusal(sam.rotation, "rot-1") == ("id", "no rotation 'rot-1'")
    assert ada.task("task-1").assignee == ADA and admin.task("task-1").assignee == ADA
    assert _refusal(sam.task, "task-1") == ("id", "no task 'task-1'")


def test_an_owners_agents_are_read_from_the_store(sqlite_services: Services) -> None:
    seed.seed_people_and_agents(sqlite_services)
    ada = OwnerReach(sqlite_services, Principal(ADA, UserRole.OWNER, Via.SESSION))
    sam = OwnerReach(sqlite_services, Principal(SAM, UserRole.OWNER, Via.SESSION))
    admin = OwnerReach(sqlite_services, Principal(BOB, UserRole.ADMIN, Via.SESSION))
    assert ada.agent_names() == frozenset({"summarizer"})
    assert sam.agent_names() == frozenset() and admin.agent_names() is None
