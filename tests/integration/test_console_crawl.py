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
#: recorded for a page whose connection the server dropped
DROPPED = 599
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
        try:
            response = client.get(path)
        except httpx.TransportError:  # the server dropped the connection: worse than a 500
            visited.append((path, DROPPED))
            continue
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


def _crawl_as(console: LiveServer, role: str) -> tuple[list[tuple[str, int]], float]:
    email = ROLES[role]
    started = time.monotonic()
    client = sign_in(console, email, SAMPLE_USERS[email][1])
    try:
        return crawl(console, client), time.monotonic() - started
    finally:
        client.close()


def _problems(role: str, visited: list[tuple[str, int]]) -> list[str]:
    out = [f"{role}: {s} {p}" for p, s in visited if s >= 500]
    # a 4xx is a link shown to a reader who may not follow it
    out += [
        f"{role}: {s} (a link the page should not show) {p}" for p, s in visited if 400 <= s < 500
    ]
    agents = {p for p, _ in visited if _kind(p) == ("agents", 2)}
    if len(visited) < 20 or not agents:
        out.append(f"{role}: the crawl reached too little ({len(visited)} pages)")
    # the agents with recorded decisions (the pages that once answered 500) the role may see
    wanted = {"/agents/support-summarizer"}
    if role != "owner":
        wanted.add("/agents/finance-reconciler")
    if not wanted <= agents:
        out.append(f"{role}: not reached: {sorted(wanted - agents)}")
    return out


def test_every_console_link_answers_for_every_role(console: LiveServer) -> None:
    """One test, one server and one sample estate for the three roles, crawled in turn
    (at once is no quicker: the server is one process)."""
    results = {role: _crawl_as(console, role) for role in ROLES}
    problems = [p for role, (visited, _) in results.items() for p in _problems(role, visited)]
    listing = "\n".join(
        f"  {role}: {status} {path}"
        for role, (visited, _) in results.items()
        for path, status in visited
    )
    assert not problems, "\n".join(problems) + "\nvisited:\n" + listing
    for role, (visited, took) in results.items():
        print(f"{role}: {len(visited)} pages in {took:.1f} s")
