"""Signing in to a live server's console the way a browser does (forms, cookies, CSRF)."""

from __future__ import annotations

import json
import re

import httpx

from charter.config import Settings
from charter.services.auth import UserRole
from charter.services.context import Services
from tests.support.server import LiveServer, run_cli

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def _services(server: LiveServer) -> Services:
    return Services.from_settings(Settings.from_env(server.env))


DEFAULT_PASSWORD = "pass-word-12345"


def add_user(
    server: LiveServer, email: str, role: str, password: str | None = DEFAULT_PASSWORD
) -> str | None:
    """A console user in the server's store (in this process: quicker than the CLI)."""
    services = _services(server)
    try:
        services.auth.add_user(email, role=UserRole(role), password=password, actor="test:setup")
    finally:
        services.close()
    return password


def api_token(server: LiveServer, email: str, *, cli: bool = False) -> str:
    """A personal API token for ``email``; ``cli=True`` makes it with ``charter api-tokens``."""
    if cli:
        result = run_cli(
            "api-tokens", "create", "--user", email, "--name", "test", "--json", env=server.env
        )
        assert result.returncode == 0, result.stderr
        return str(json.loads(result.stdout)["token"])
    services = _services(server)
    try:
        return services.auth.keys.create_api_token(
            email, name="test", expires_in=None, actor="test:setup"
        ).secret
    finally:
        services.close()


def sign_in(server: LiveServer, email: str, password: str) -> httpx.Client:
    """A cookie-holding client, signed in through the /login form."""
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
    )
    assert response.status_code == 303, response.text
    return client


#: Console users the sample estate gets (e-mail → role, password).
SAMPLE_USERS = {
    "admin@acme.example": ("admin", "admin-password-1"),
    "maria.garcia@acme.example": ("owner", "maria-password-1"),  # owns support-summarizer
    "priya.nair@acme.example": ("owner", "priya-password-1"),  # owns finance-reconciler
    "ada.osei@acme.example": ("auditor", "auditor-password-1"),
}


def load_sample_estate(env: dict[str, str]) -> None:
    """The bundled sample: people, example agents (three active), the estate exports,
    a few recorded decisions, evaluated findings, review campaigns, console users."""
    from charter.config import Settings
    from charter.domain.charter_parsing import parse_charter_text
    from charter.domain.lifecycle import Transition
    from charter.services.auth import UserRole
    from charter.services.context import Services
    from charter.services.people import parse_directory
    from tests.support.server import ROOT, run_cli

    services = Services.from_settings(Settings.from_env(env))
    try:
        people = (ROOT / "examples" / "people.json").read_bytes()
        services.people.import_records(
            parse_directory(people, filename="people.json"), actor="test:setup"
        )
        for file in sorted((ROOT / "examples" / "agents").glob("*.yaml")):
            services.registry.register(parse_charter_text(file.read_bytes()), actor="test:setup")
        for name in ("support-summarizer", "finance-reconciler", "code-reviewer"):
            services.registry.transition(
                name, Transition.ACTIVATE, actor="test:setup", reason="approved in SEC-101"
            )
        for email, (role, password) in SAMPLE_USERS.items():
            services.auth.add_user(
                email, role=UserRole(role), password=password, actor="test:setup"
            )
    finally:
        services.close()
    result = run_cli("discover", "all", str(ROOT / "examples" / "estate"), env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    services = Services.from_settings(Settings.from_env(env))
    try:
        for _ in range(3):  # what finance-reconciler really does: read charges
            services.decisions.decide(
                "finance-reconciler",
                "stripe.charges.read",
                "stripe:acct_acme/charges/ch_1",
                source="test",
            )
        services.decisions.decide(
            "support-summarizer", "tickets.delete", "zendesk:tickets/9", source="test"
        )
        services.decisions.recorder.flush()
        services.governance.evaluation.evaluate(actor="test:setup")
        for scope in ("agent:finance-reconciler", "agent:support-summarizer"):
            services.governance.reviews.start(scope, actor="test:setup")
    finally:
        services.close()
