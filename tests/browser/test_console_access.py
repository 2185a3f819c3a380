"""Who sees and does what, in the browser: owners see only their own agents,
auditors change nothing, a charter with script in it is shown as text and
never runs, every page renders (screenshots for a person to look at) without
a script error or a Content-Security-Policy violation, and the keyboard works.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import Console
from tests.support.server import LiveServer

pytestmark = pytest.mark.browser

ADMIN = "admin@acme.example"
MARIA = "maria.garcia@acme.example"
AUDITOR = "ada.osei@acme.example"

EVIL_PURPOSE = (
    "Harmless helper <script>window.__pwned = 1</script>"
    '<img src=x onerror="window.__pwned = 2"> "quotes" & ampersands'
)


def _watch(tab: Console) -> list[str]:
    """Collect script errors and console errors (CSP violations are console errors)."""
    problems: list[str] = []
    tab.page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    tab.page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    return problems


def test_owner_sees_only_their_own_agents(as_user: Any) -> None:
    maria: Console = as_user(MARIA)
    page = maria.page
    nav = page.locator("header nav").inner_text()
    assert "Audit" not in nav and "Shadow AI" not in nav
    maria.go("/agents")
    names = page.locator("tbody td.name a").all_inner_texts()
    assert names == ["support-summarizer"]
    maria.shot("agents")
    for path in (
        "/agents/finance-reconciler",
        "/map?agent=finance-reconciler",
        "/decisions?agent=finance-reconciler&action=x&resource=y:z",
        "/credentials?agent=finance-reconciler",
    ):
        response = maria.go(path)
        assert response.status == 404, path
        assert "no agent named 'finance-reconciler'" in page.locator("main").inner_text()
    assert maria.go("/audit").status == 403
    assert maria.go("/shadow").status == 403
    maria.go("/findings")
    owners = page.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert owners and set(owners) == {MARIA}
    maria.go("/map")
    drawn = page.locator("svg.map a[href^='/map?agent=']").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert drawn == ["/map?agent=support-summarizer"]
    # a finding of another owner's, by id in the URL
    with maria.server.client() as api:
        someone_elses = api.get("/v1/audit", params={"action": "findings.evaluate"}).json()
    assert someone_elses  # the findings exist; maria just cannot open theirs:
    maria.go("/findings?owner=priya.nair@acme.example")
    assert set(page.locator("tbody tr td:nth-child(4)").all_inner_texts()) <= {MARIA, ""}


def test_auditor_cannot_change_anything(as_user: Any, console: LiveServer) -> None:
    auditor: Console = as_user(AUDITOR)
    page = auditor.page
    auditor.go("/agents/code-reviewer")
    assert "You can look but not change anything here." in page.locator("main").inner_text()
    assert page.locator("main form").count() == 0
    auditor.shot("agent-read-only")
    auditor.go("/findings")
    assert page.get_by_role("button", name=re.compile("Acknowledge")).count() == 0
    auditor.go("/shadow")
    assert page.locator("summary", has_text="Adopt").count() == 0
    assert auditor.go("/reviews").status == 403
    assert auditor.go("/agents/new").status == 403
    # even a hand-made request with the auditor's own valid CSRF token is refused
    token = page.locator("form[action='/logout'] input[name=csrf_token]").get_attribute("value")
    for path, data in (
        ("/agents/code-reviewer/transition", {"transition": "suspend", "reason": "x"}),
        ("/agents/code-reviewer/transfer", {"to": "noah.smith@acme.example"}),
        ("/shadow/chatgpt/dismiss", {"reason": "x"}),
        ("/reviews/start", {"scope": "all"}),
    ):
        response = page.request.post(console.url + path, form={"csrf_token": token, **data})
        assert response.status == 403, path
    with console.client() as api:
        assert api.get("/v1/agents/code-reviewer").json()["state"] == "active"


def test_script_in_a_charter_is_text_never_code(as_user: Any, console: LiveServer) -> None:
    admin: Console = as_user(ADMIN)
    problems = _watch(admin)
    page = admin.page
    admin.go("/agents/new")
    charter = (
        "name: evil-helper\nowner: maria.garcia@acme.example\n"
        f"purpose: '{EVIL_PURPOSE}'\nlabels: {{note: '<b onmouseover=alert(1)>x</b>'}}\n"
    )
    page.get_by_label("…or the charter text").fill(charter)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r"/agents/evil-helper$"))
    assert EVIL_PURPOSE in page.locator("p.lead").inner_text()  # shown as text, exactly
    admin.shot("xss-agent")
    for path in ("/agents/evil-helper", "/agents?q=harmless", "/audit", "/decisions"):
        admin.go(path)
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("main script").count() == 0
        assert page.locator("main img[src=x]").count() == 0
    assert not [p for p in problems if "pageerror" in p], problems


def test_every_page_renders_cleanly(as_user: Any, console: LiveServer) -> None:
    """Screenshots of every page, as each role sees it; no script error, no CSP violation."""
    pages = {
        ADMIN: [
            ("overview", "/"),
            ("agents", "/agents"),
            ("agent", "/agents/code-reviewer"),
            ("register", "/agents/new"),
            ("decommission-plan", "/agents/code-reviewer/decommission"),
            ("shadow", "/shadow"),
            ("discovery", "/discovery"),
            ("findings", "/findings"),
            ("findings-nhi7", "/findings?owasp=NHI7"),
            ("map", "/map"),
            ("map-blast-radius", "/map?agent=support-summarizer"),
            ("map-risk", "/map?risk=high"),
            ("reviews", "/reviews"),
            ("audit", "/audit"),
            (
                "decisions",
                "/decisions?agent=code-reviewer&action=github.pulls.read&resource=github:acme/x",
            ),
            ("credentials-found", "/credentials?found=7d"),
            ("credentials-expiring", "/credentials?expiring=30d"),
            ("not-found", "/agents/no-such-agent"),
        ],
        MARIA: [("overview", "/"), ("reviews", "/reviews"), ("map", "/map")],
        AUDITOR: [("overview", "/"), ("audit", "/audit"), ("findings", "/findings")],
    }
    for email, visits in pages.items():
        tab: Console = as_user(email)
        problems = _watch(tab)
        for name, path in visits:
            response = tab.go(path)
            expected = 404 if name == "not-found" else 200
            assert response.status == expected, (email, path, response.status)
            assert tab.page.locator("h1").count() == 1, path
            tab.shot(name)
            if expected == 404:  # the browser reports the page's own 404; nothing else
                assert problems == [
                    "console: Failed to load resource: the server responded with a status of 404 "
                    "(Not Found)"
                ]
                problems.clear()
        finding = tab.page.locator("tbody a[href^='/findings/']").first
        if email != MARIA and finding.count():
            finding.click()
            tab.page.wait_for_load_state()
            tab.shot("finding")
        assert problems == [], (email, problems)
    admin: Console = as_user(ADMIN)
    admin.go("/reviews")
    item = admin.page.get_by_role("link", name="Review").first
    if item.count():
        item.click()
        admin.page.wait_for_load_state()
        admin.shot("review-item")


def test_the_keyboard_reaches_everything(as_user: Any) -> None:
    admin: Console = as_user(ADMIN)
    page = admin.page
    admin.go("/agents")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    page.keyboard.press("/")  # "/" jumps to the search box
    assert page.evaluate("document.activeElement.type") == "search"
    page.keyboard.type("finance")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=finance"))
    assert page.locator("tbody td.name a").all_inner_texts() == ["finance-reconciler"]
    admin.go("/map?agent=support-summarizer")
    edge = page.locator("svg.map path.edge").first
    edge.focus()  # edges are focusable, and focusing one explains it
    assert page.locator("#edge-detail").inner_text().strip() != ""
    assert "→" in page.locator("#edge-detail").inner_text()
