"""``X-Forwarded-For`` is believed only from the proxies the operator names.

uvicorn's default believes it from loopback, so anyone reaching ``charter
serve`` on 127.0.0.1 (a local user, an SSRF, a sidecar) chose the address the
per-client sign-in limit counts, and sidestepped it by sending a new one with
every guess. Real ``charter serve`` processes; the limit's own records read
from the store.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import httpx
import sqlalchemy as sa
from tests.support.server import charter_env, live_server, run_cli

from charter.config import Settings, proxy_options, trusted_proxies
from charter.services.context import Services
from charter.store.auth_schema import auth_login_attempts

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _fail_sign_in(http: httpx.Client, email: str, forwarded_for: str) -> int:
    page = http.get("/login")
    token = _CSRF.search(page.text)
    assert token
    response = http.post(
        "/login",
        data={"email": email, "password": "wrong-guess", "csrf_token": token.group(1)},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


def _counted_clients(env: dict[str, str]) -> Counter[str]:
    """The failed sign-ins the per-client limit has counted, by client key."""
    services = Services.from_settings(Settings.from_env(env))
    try:
        with services.db.read() as connection:
            keys = connection.execute(sa.select(auth_login_attempts.c.key)).scalars()
            return Counter(key for key in keys if key.startswith("client:"))
    finally:
        services.close()


def test_by_default_a_forwarded_address_from_loopback_is_ignored(tmp_path: Path) -> None:
    env = charter_env(tmp_path)
    with live_server(env) as server, httpx.Client(base_url=server.url) as http:
        statuses = [
            _fail_sign_in(http, f"guess{n}@acme.example", f"203.0.113.{n}") for n in range(3)
        ]
        counted = _counted_clients(env)
    assert statuses == [401, 401, 401]
    # every guess counts against the real peer, whatever address the header claimed,
    # so a new forwarded address per guess does not start a new allowance
    assert counted == Counter({"client:127.0.0.1": 3})


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    env = charter_env(tmp_path, CHARTER_TRUSTED_PROXIES="10.9.9.9, 127.0.0.0/8")
    with live_server(env) as server, httpx.Client(base_url=server.url) as http:
        assert _fail_sign_in(http, "guess@acme.example", "203.0.113.7") == 401
        counted = _counted_clients(env)
    assert counted == Counter({"client:203.0.113.7": 1})  # the proxy's word for who the client is


def test_a_proxy_setting_that_is_not_an_address_is_refused(tmp_path: Path) -> None:
    env = charter_env(tmp_path, CHARTER_TRUSTED_PROXIES="10.0.0.1,proxy.internal")
    for command in (["serve"], ["gateway", "--config", str(tmp_path / "none.yaml")]):
        done = run_cli(*command, env=env)
        assert done.returncode == 2, (command, done.stderr)
        assert "CHARTER_TRUSTED_PROXIES" in done.stderr and "proxy.internal" in done.stderr
        assert "Traceback" not in done.stderr


def test_the_uvicorn_settings_for_each_case() -> None:
    assert trusted_proxies({}) == ()
    assert proxy_options(()) == {"proxy_headers": False, "forwarded_allow_ips": []}
    named = trusted_proxies({"CHARTER_TRUSTED_PROXIES": " 10.0.0.5 ,, fd00::/8 "})
    assert named == ("10.0.0.5", "fd00::/8")
    assert proxy_options(named) == {"proxy_headers": True, "forwarded_allow_ips": list(named)}
