"""The issue's journey, in a real browser on the sample estate.

Sign in; the overview's numbers match the API's; adopt a shadow agent; suspend
an agent and see the decisions tester deny it; an owner completes a review
that reduces access (and the tester then denies what was removed); acknowledge
a finding; and find every step, with the person's name, on the audit page.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.browser.conftest import Console
from tests.support.server import LiveServer

pytestmark = pytest.mark.browser

ADMIN = "admin@acme.example"
PRIYA = "priya.nair@acme.example"


def _card(tab: Console, label: str) -> int:
    card = tab.page.locator(
        "a.stat", has=tab.page.locator(".label", has_text=re.compile(f"^{label}$"))
    )
    return int(card.locator(".n").inner_text().replace(",", ""))


def _decide(tab: Console, agent: str, action: str, resource: str) -> str:
    tab.go("/decisions")
    tab.page.get_by_label("Agent").fill(agent)
    tab.page.get_by_label("Action").fill(action)
    tab.page.get_by_label("Resource").fill(resource)
    tab.page.get_by_role("button", name="Decide").click()
    tab.page.wait_for_selector(".decision")
    return str(tab.page.locator("section[aria-live]").inner_text())


def test_the_journey(as_user: Any, console: LiveServer) -> None:
    admin: Console = as_user(ADMIN)
    page = admin.page

    # -- the overview's numbers are the API's -----------------------------------------------
    with console.client() as api:
        agents_total = api.get("/v1/agents", params={"limit": 1}).json()["total"]
        active_total = api.get("/v1/agents", params={"state": "active", "limit": 1}).json()["total"]
        shadow_total = len(api.get("/v1/shadow").json())
    assert _card(admin, "Agents") == agents_total
    assert _card(admin, "Active agents") == active_total == 3
    assert _card(admin, "Shadow agents awaiting adoption") == shadow_total > 0
    assert _card(admin, "Open findings") > 0
    admin.shot("01-overview")
    page.locator("a.stat", has_text="Active agents").click()  # each number opens its list
    page.wait_for_url(re.compile(r"/agents\?state=active$"))
    assert page.locator("tbody tr").count() == 3

    # -- find a shadow agent and adopt it --------------------------------------------------------
    admin.go("/shadow")
    admin.shot("02-shadow")
    row = page.locator("tr.shadow-row").first
    name = str(row.get_attribute("id"))
    row.locator("summary", has_text="Adopt").click()
    draft = yaml.safe_load(row.locator("textarea[name=charter]").input_value())
    assert draft["name"] == name and draft["identities"], draft
    draft.update(
        owner="noah.smith@acme.example",
        purpose="Adopted in the console: summarises support tickets for the team.",
    )
    row.locator("textarea[name=charter]").fill(yaml.safe_dump(draft, sort_keys=False))
    row.get_by_role("button", name=f"Adopt {name}").click()
    page.wait_for_url(re.compile(f"/agents/{re.escape(name)}$"))
    assert "adopted" in admin.flash() and "noah.smith@acme.example" in admin.flash()
    assert page.locator("h1 .badge").inner_text() == "proposed"
    admin.shot("03-adopted")
    with console.client() as api:
        assert name not in [s["name"] for s in api.get("/v1/shadow").json()]

    # -- open an agent and suspend it; the tester then denies it ----------------------------------
    admin.go("/agents")
    page.get_by_role("searchbox").fill("support")
    page.get_by_role("searchbox").press("Enter")
    page.get_by_role("link", name="support-summarizer", exact=True).click()
    page.wait_for_url(re.compile(r"/agents/support-summarizer$"))
    page.locator("summary", has_text="Suspend").click()
    page.get_by_label("Reason").first.fill("incident INC-42: unexpected deletes")
    page.get_by_role("button", name="Suspend support-summarizer").click()
    page.wait_for_load_state()
    assert "support-summarizer is now suspended" in admin.flash()
    assert page.locator("h1 .badge").inner_text() == "suspended"
    admin.shot("04-suspended")
    answer = _decide(admin, "support-summarizer", "tickets.comments.read", "zendesk:tickets/7")
    assert "Denied" in answer and "agent_not_active" in answer
    admin.shot("05-tester-denied")

    # -- acknowledge a finding ---------------------------------------------------------------------
    admin.go("/findings")
    first = page.locator("tbody tr").first
    message = first.locator("td").nth(1).locator("a").inner_text()
    first.get_by_role("button", name=re.compile("^Acknowledge")).click()
    page.wait_for_load_state()
    assert admin.flash() == f"acknowledged: {message}"
    admin.shot("06-acknowledged")

    # -- an owner completes a review that reduces access ------------------------------------------
    priya: Console = as_user(PRIYA)
    priya.go("/reviews")
    priya.shot("07-review-queue")
    priya.page.locator("tr", has_text="finance-reconciler").get_by_role(
        "link", name="Review"
    ).click()
    priya.page.get_by_role("link", name="Reduce to the suggestion").click()
    priya.page.wait_for_url(re.compile(r"decision=reduce$"))
    body = priya.page.locator("main").inner_text()
    assert "would be denied" in body  # what the recorded activity would have been denied: none
    assert "allow rules 4 → " in body
    priya.shot("08-review-plan")
    priya.page.get_by_label("Reason").fill("only reads charges")
    priya.page.get_by_role("button", name="Submit: reduce").click()
    priya.page.wait_for_url(re.compile(r"/reviews$"))
    assert re.search(r"finance-reconciler: reduced \(charter v\d+\)", priya.flash())
    answer = _decide(priya, "finance-reconciler", "ledger.entries.read", "ledger:books/acme-gmbh")
    assert "Denied" in answer and "no_matching_capability" in answer
    answer = _decide(
        priya, "finance-reconciler", "stripe.charges.read", "stripe:acct_acme/charges/c"
    )
    assert "Allowed" in answer

    # -- every step is in the audit log, naming the person -----------------------------------------
    admin.go(f"/audit?actor={ADMIN}")
    log = page.locator("tbody").inner_text()
    for action in ("agent.adopt", "agent.suspend", "finding.acknowledge", "console.sign_in"):
        assert action in log, action
    assert "✔ The chain verifies" in page.locator("main").inner_text()
    admin.shot("09-audit")
    admin.go(f"/audit?actor={PRIYA}")
    log = page.locator("tbody").inner_text()
    assert "review.decide" in log
    admin.go("/audit?target=support-summarizer")
    assert "incident INC-42" in page.locator("tbody").inner_text()
