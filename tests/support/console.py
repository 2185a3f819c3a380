"""Signing in to a live server's console the way a browser does (forms, cookies, CSRF)."""

from __future__ import annotations

import json
import re

import httpx

from tests.support.server import LiveServer, run_cli

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def add_user(server: LiveServer, email: str, role: str, password: str = "pass-word-12345") -> str:  # noqa: S107
    result = run_cli("users", "add", email, "--role", role, "--password", password, env=server.env)
    assert result.returncode == 0, result.stderr
    return password


def api_token(server: LiveServer, email: str) -> str:
    result = run_cli(
        "api-tokens", "create", "--user", email, "--name", "test", "--json", env=server.env
    )
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["token"])


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
