"""Sign-in, sessions, throttling, API tokens and PEP keys on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from charter.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from charter.services.access_keys import VERSION_CHECK_SECONDS
from charter.services.auth import (
    MAX_FAILURES_PER_ACCOUNT,
    SESSION_IDLE,
    THROTTLE_WINDOW,
    TooManyAttempts,
    UserRole,
    Via,
)
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.oidc_requests import OidcRequest
from charter.store.auth_schema import auth_api_tokens, auth_pep_keys, auth_sessions, auth_users

PASSWORD = "a long enough password"


@pytest.fixture
def admin(services: Services) -> str:
    services.auth.add_user("Ada@Acme.example", role=UserRole.ADMIN, password=PASSWORD, actor="t")
    return "ada@acme.example"


@pytest.fixture
def second(services: Services) -> Iterator[Services]:
    """A second Services on the same store: what another process or replica sees."""
    other = Services(services.db.__class__(services.db.url), services.settings, services.clock)
    yield other
    other.close()


def test_users_are_validated_and_passwords_are_argon2id(services: Services, admin: str) -> None:
    with pytest.raises(Conflict):
        services.auth.add_user(admin, role=UserRole.OWNER, password=PASSWORD, actor="t")
    with pytest.raises(InvalidInput) as bad_email:
        services.auth.add_user("not-an-email", role=UserRole.OWNER, password=PASSWORD, actor="t")
    assert bad_email.value.field == "email"
    with pytest.raises(InvalidInput) as short:
        services.auth.add_user("bo@acme.example", role=UserRole.OWNER, password="short", actor="t")
    assert short.value.field == "password"
    with services.db.read() as connection:
        stored = connection.execute(sa.select(auth_users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    oidc_only = services.auth.add_user(
        "cy@acme.example", role=UserRole.AUDITOR, password=None, actor="t"
    )
    assert not oidc_only.has_password
    with pytest.raises(Unauthenticated):  # no password: password sign-in is impossible
        services.auth.sign_in("cy@acme.example", "", client="c")
    events = services.audit.list(action="user.add")
    assert {e.target for e in events} == {admin, "cy@acme.example"}


def test_sign_in_starts_a_session_that_expires(
    services: Services, admin: str, clock: FixedClock
) -> None:
    grant = services.auth.sign_in("ADA@acme.example ", PASSWORD, client="10.0.0.1")
    principal = services.auth.resolve_session(grant.token)
    assert principal is not None and principal.subject == admin and principal.role == UserRole.ADMIN
    assert principal.csrf == grant.csrf and principal.via == Via.SESSION
    with services.db.read() as connection:  # only a digest of the session id is stored
        stored = connection.execute(sa.select(auth_sessions.c.id_hash)).scalar_one()
    assert stored != grant.token and len(stored) == 64
    assert services.audit.list(action="console.sign_in")[0].actor == admin
    # idle: activity keeps it alive, silence ends it
    clock.advance(seconds=SESSION_IDLE.total_seconds() - 60)
    assert services.auth.resolve_session(grant.token) is not None
    clock.advance(seconds=SESSION_IDLE.total_seconds() - 60)
    assert services.auth.resolve_session(grant.token) is not None
    clock.advance(seconds=SESSION_IDLE.total_seconds() + 1)
    assert services.auth.resolve_session(grant.token) is None
    # absolute lifetime: even an active session ends after 12 hours
    fresh = services.auth.sign_in(admin, PASSWORD, client="10.0.0.1")
    for _ in range(13):
        clock.advance(hours=1)
        alive = services.auth.resolve_session(fresh.token)
    assert alive is None
    assert services.auth.resolve_session("forged-" + fresh.token) is None


def test_sign_out_and_disable_end_sessions(services: Services, admin: str) -> None:
    grant = services.auth.sign_in(admin, PASSWORD, client="c")
    services.auth.end_session(grant.token)
    assert services.auth.resolve_session(grant.token) is None
    assert services.audit.list(action="console.sign_out")[0].actor == admin
    grant = services.auth.sign_in(admin, PASSWORD, client="c")
    token = services.auth.keys.create_api_token(admin, name="ci", expires_in=None, actor="t")
    assert services.auth.keys.authenticate(token.secret) is not None
    services.auth.disable_user(admin, actor="t")
    assert services.auth.resolve_session(grant.token) is None
    assert services.auth.keys.authenticate(token.secret) is None
    with pytest.raises(Unauthenticated):
        services.auth.sign_in(admin, PASSWORD, client="c")


def test_sign_in_is_throttled_per_account_across_processes(
    services: Services, second: Services, admin: str, clock: FixedClock
) -> None:
    for attempt in range(MAX_FAILURES_PER_ACCOUNT):
        # alternate between two "processes": the count lives in the store
        target = services if attempt % 2 else second
        with pytest.raises(Unauthenticated):
            target.auth.sign_in(admin, "wrong password!!", client=f"10.0.0.{attempt}")
    with pytest.raises(TooManyAttempts) as refused:  # even the right password is not checked
        services.auth.sign_in(admin, PASSWORD, client="10.9.9.9")
    assert refused.value.status == 429 and 0 < refused.value.retry_after <= 15 * 60 + 1
    # another account is not affected
    services.auth.add_user("bo@acme.example", role=UserRole.OWNER, password=PASSWORD, actor="t")
    assert services.auth.sign_in("bo@acme.example", PASSWORD, client="10.0.0.1").token
    clock.advance(seconds=THROTTLE_WINDOW.total_seconds() + 1)
    assert services.auth.sign_in(admin, PASSWORD, client="10.0.0.1").token


def test_success_clears_the_account_count(services: Services, admin: str) -> None:
    for _ in range(MAX_FAILURES_PER_ACCOUNT - 1):
        with pytest.raises(Unauthenticated):
            services.auth.sign_in(admin, "wrong password!!", client="c")
    services.auth.sign_in(admin, PASSWORD, client="c")
    for _ in range(MAX_FAILURES_PER_ACCOUNT - 1):
        with pytest.raises(Unauthenticated):
            services.auth.sign_in(admin, "wrong password!!", client="c")
    assert services.auth.sign_in(admin, PASSWORD, client="c").token


def test_api_tokens(services: Services, admin: str, clock: FixedClock) -> None:
    keys = services.auth.keys
    issued = keys.create_api_token(admin, name="ci", expires_in=dt.timedelta(days=1), actor="t")
    assert issued.secret.startswith("chpat_") and len(issued.secret) > 40
    with services.db.read() as connection:
        stored = connection.execute(sa.select(auth_api_tokens.c.token_hash)).scalar_one()
    assert issued.secret not in stored
    principal = keys.authenticate(issued.secret)
    assert principal is not None and str(principal) == admin and principal.via == Via.API_TOKEN
    assert keys.authenticate(issued.secret[:-1] + "x") is None
    assert keys.authenticate("Basic abc") is None
    clock.advance(days=1, seconds=1)
    assert keys.authenticate(issued.secret) is None  # expired, even though cached
    with pytest.raises(NotFound):
        keys.create_api_token("nobody@acme.example", name="x", expires_in=None, actor="t")
    with pytest.raises(InvalidInput):
        keys.create_api_token(admin, name="Bad Name!", expires_in=None, actor="t")
    second = keys.create_api_token(admin, name="cli", expires_in=None, actor="t")
    keys.revoke_api_token(second.token.id, actor="t")
    assert keys.authenticate(second.secret) is None
    assert [t.revoked for t in keys.list_api_tokens(admin)] == [False, True]
    assert [e.action for e in services.audit.list(target_type="api_token")] == [
        "api_token.revoke",
        "api_token.create",
        "api_token.create",
    ]


def test_pep_keys_and_revocation_reaches_other_processes(
    services: Services, second: Services
) -> None:
    issued = services.auth.keys.add_pep_key("mcp-gateway", actor="t")
    assert issued.secret.startswith("chpep_")
    with services.db.read() as connection:
        assert (
            issued.secret
            not in connection.execute(sa.select(auth_pep_keys.c.key_hash)).scalar_one()
        )
    with pytest.raises(Conflict):
        services.auth.keys.add_pep_key("mcp-gateway", actor="t")
    seen = second.auth.keys.authenticate(issued.secret)
    assert seen is not None and str(seen) == "pep:mcp-gateway" and seen.role is None
    services.auth.keys.revoke_pep_key("mcp-gateway", actor="t")
    assert services.auth.keys.authenticate(issued.secret) is None
    time.sleep(VERSION_CHECK_SECONDS + 0.1)  # the other process re-reads the change counter
    assert second.auth.keys.authenticate(issued.secret) is None


def test_oidc_requests_are_single_use_and_expire(services: Services, clock: FixedClock) -> None:
    services.auth.oidc_requests.save("state-1", OidcRequest("v" * 64, "n1", "/agents"))
    taken = services.auth.oidc_requests.take("state-1")
    assert taken == OidcRequest("v" * 64, "n1", "/agents")
    assert services.auth.oidc_requests.take("state-1") is None  # replay
    services.auth.oidc_requests.save("state-2", OidcRequest("v" * 64, "n2", "/"))
    clock.advance(minutes=11)
    assert services.auth.oidc_requests.take("state-2") is None
    assert services.auth.oidc_requests.take("") is None


def test_start_session_needs_a_known_enabled_user(services: Services, admin: str) -> None:
    with pytest.raises(Unauthenticated) as unknown:
        services.auth.start_session("stranger@acme.example", method="oidc")
    assert "charter users add" in unknown.value.message
    assert services.auth.start_session(admin, method="oidc").user.email == admin
