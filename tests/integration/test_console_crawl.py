"""Crawl the console as each role on the sample estate: no page answers 5xx.

A real ``charter serve`` on the bundled sample (people, the example agents,
the estate exports, recorded decisions — allows and denies — evaluated
findings and open review campaigns). Each role signs in through the form and
follows every same-origin link from the overview, breadth first: none may
answer 5xx, and none may be refused (4xx) — a page shows a reader only the
links that reader may follow. Pages of the
same kind (``/findings/<id>``, ``/agents/<name>`` …) are bounded so the crawl
stays quick, except agent pages, which are all visited: they differ most.
A failure lists every page visited with its status.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import pytest
from tests.support.console import SAMPLE_USERS, load_sample_estate, sign_in
from tests.support.server import LiveServer, charter_env, live_server

ROLES = {
    "admin": "admin@acme.example",
    "owner": "maria.garcia@acme.example",
    "auditor": "ada.osei@acme.example",
}
#: pages of one kind (first path segment and depth) visited per role, beyond the first
PER_KIND = 12
#: every agent page is visited (the recorded decisions on them once answered 500)
UNBOUNDED = {("agents", 2)}
MAX_PAGES = 400
#: never followed: they end the session or leave the console
SKIP = ("/logout", "/login")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"a": "href", "link": "href", "script": "src", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.found.append(value)


def _links(base: str, page: str, html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    out = []
    origin = urlsplit(base)
    for href in parser.found:
        url = urlsplit(urldefrag(urljoin(base + page, href)).url)
        if (url.scheme, url.netloc) != (origin.scheme, origin.netloc):
            continue
        path = url.path + (f"?{url.query}" if url.query else "")
        if not path.startswith(SKIP):
            out.append(path)
    return out


def _kind(path: str) -> tuple[str, int]:
    parts = [p for p in urlsplit(path).path.split("/") if p]
    return (parts[0] if parts else "", len(parts))


def crawl(server: LiveServer, client: httpx.Client) -> list[tuple[str, int]]:
    """Every page reached from ``/``, with its status, in the order visited."""
    queue, seen = deque(["/"]), {"/"}
    per_kind: dict[tuple[str, int], int] = {}
    visited: list[tuple[str, int]] = []
    while queue and len(visited) < MAX_PAGES:
        path = queue.popleft()
        response = client.get(path)
        visited.append((path, response.status_code))
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        for link in _links(server.url, path, response.text):
            if link in seen:
                continue
            seen.add(link)
            kind = _kind(link)
            per_kind[kind] = per_kind.get(kind, 0) + 1
            if kind in UNBOUNDED or per_kind[kind] <= PER_KIND:
                queue.append(link)
    return visited


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = charter_env(tmp_path_factory.mktemp("crawl"))
    load_sample_estate(env)
    with live_server(env) as running:
        yield running


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_console_link_answers_without_a_server_error(console: LiveServer, role: str) -> None:
    email = ROLES[role]
    started = time.monotonic()
    client = sign_in(console, email, SAMPLE_USERS[email][1])
    try:
        visited = crawl(console, client)
    finally:
        client.close()
    took = time.monotonic() - started
    broken = [(p, s) for p, s in visited if s >= 500]
    listing = "\n".join(f"  {status} {path}" for path, status in visited)
    assert not broken, f"{role}: {len(broken)} page(s) answered 5xx: {broken}\nvisited:\n{listing}"
    dead = [
        (p, s) for p, s in visited if s >= 400
    ]  # a link shown to a reader who may not follow it
    assert not dead, (
        f"{role}: {len(dead)} link(s) refused their reader: {dead}\nvisited:\n{listing}"
    )
    agents = [p for p, _ in visited if _kind(p) == ("agents", 2)]
    assert len(visited) > 20 and agents, f"{role}: the crawl reached too little:\n{listing}"
    if role != "owner":  # the agents with recorded decisions, the pages that once answered 500
        assert {"/agents/finance-reconciler", "/agents/support-summarizer"} <= set(agents)
    print(f"{role}: {len(visited)} pages in {took:.1f} s")
