"""Browser tests: Playwright driving Debian's Chromium against a real ``charter serve``.

Never ``playwright install``: the browser is the system's ``/usr/bin/chromium``
(``apt-get install chromium``; ``.ci/run`` installs it). Without it these tests
skip loudly — except in CI (``CI`` or ``CHARTER_REQUIRE_BROWSER=1``), where a
missing browser fails. Screenshots of every page land in one temporary folder,
printed at the end of the run, so a person can look at them.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.console import SAMPLE_USERS, load_sample_estate
from tests.support.server import LiveServer, charter_env, live_server

CHROMIUM = Path(os.environ.get("CHARTER_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_SHOTS: list[Path] = []


def _required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("CHARTER_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module. Not for the session: Playwright's sync API keeps an
    event loop running while it is open, which would break later asyncio tests."""
    if not CHROMIUM.exists():
        message = (
            f"\n\n*** Browser tests are SKIPPED: no Chromium at {CHROMIUM}.\n"
            "*** Install it with 'apt-get install -y chromium' (never 'playwright install').\n"
        )
        if _required():
            pytest.fail(message)
        warnings.warn(message, stacklevel=1)
        pytest.skip("Chromium is not installed (see the warning above)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("console-screenshots")
    _SHOTS.append(folder)
    return folder


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server on the sample estate, with console users (see SAMPLE_USERS)."""
    env = charter_env(tmp_path_factory.mktemp("console"))
    load_sample_estate(env)
    with live_server(env) as running:
        yield running


class Console:
    """One signed-in browser tab, with helpers a test reads like a person's steps."""

    def __init__(self, page: Any, server: LiveServer, screenshots: Path, who: str) -> None:
        self.page = page
        self.server = server
        self.folder = screenshots
        self.who = who.split("@")[0]

    def go(self, path: str) -> Any:
        return self.page.goto(self.server.url + path)

    def shot(self, name: str) -> Path:
        path = self.folder / f"{self.who}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def flash(self) -> str:
        return str(self.page.locator(".flash").first.inner_text())

    def csrf(self) -> str:
        value = self.page.locator("input[name=csrf_token]").first.get_attribute("value")
        assert value
        return str(value)


def sign_in(browser: Any, server: LiveServer, screenshots: Path, email: str) -> Console:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(server.url + "/")
    assert re.search(r"/login\?next=%2F$", page.url), page.url  # anonymous: sent to sign in
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(SAMPLE_USERS[email][1])
    page.get_by_label("Password").press("Enter")  # the keyboard submits the form
    page.wait_for_url(server.url + "/")
    return Console(page, server, screenshots, email)


@pytest.fixture
def as_user(browser: Any, console: LiveServer, screenshots: Path) -> Iterator[Any]:
    opened: list[Console] = []

    def open_as(email: str) -> Console:
        tab = sign_in(browser, console, screenshots, email)
        opened.append(tab)
        return tab

    yield open_as
    for tab in opened:
        tab.page.context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _SHOTS:
        count = len(list(folder.glob("*.png")))
        terminalreporter.write_line(f"console screenshots ({count}): {folder}")
