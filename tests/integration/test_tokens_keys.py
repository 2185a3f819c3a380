"""Signing keys at rest: sealed under a master key from the environment or a 0600 file,
generated once on first start, rotated with an overlap, wiped after it."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from charter.config import Settings
from charter.domain.tokens.jwk import Alg
from charter.errors import InvalidInput, StoreError
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.tokens.keys import MASTER_KEY_ENV, MasterKey, SigningKeys
from charter.store.tokens_schema import signing_keys


def _keys(services: Services, home: Path) -> SigningKeys:
    return SigningKeys(services.db, services.audit, services.clock, home)


def _rows(services: Services) -> list[sa.Row[tuple[object, ...]]]:
    with services.db.read() as connection:
        return list(connection.execute(sa.select(signing_keys).order_by(signing_keys.c.created_at)))


def test_first_start_makes_one_sealed_key_and_a_0600_master_key(
    sqlite_services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    home = tmp_path / "home"
    keys = _keys(sqlite_services, home)
    threads = [threading.Thread(target=keys.ensure) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = _rows(sqlite_services)
    assert len(rows) == 1 and rows[0].alg == "ES256"
    assert stat.S_IMODE((home / "master.key").stat().st_mode) == 0o600
    sealed = base64.b64decode(rows[0].sealed_private_key)
    assert b"PRIVATE KEY" not in sealed and len(sealed) > 100
    ring = keys.load()
    assert ring.signer.kid == rows[0].kid and ring.signer.private is not None
    event = sqlite_services.audit.list(action="signing_key.create")[0]
    assert event.target == rows[0].kid


def test_a_master_key_file_others_can_read_is_refused(
    sqlite_services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "master.key").write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
    os.chmod(home / "master.key", 0o644)
    with pytest.raises(StoreError) as refused:
        _keys(sqlite_services, home).load()
    assert "chmod 600" in str(refused.value)


def test_the_master_key_from_the_environment(
    sqlite_services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, base64.b64encode(os.urandom(32)).decode())
    keys = _keys(sqlite_services, tmp_path / "home")
    assert keys.load().signer.private is not None
    assert not (tmp_path / "home" / "master.key").exists()
    # another master key cannot open what this one sealed, and says so
    monkeypatch.setenv(MASTER_KEY_ENV, base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(StoreError) as refused:
        _keys(sqlite_services, tmp_path / "home").load()
    assert "same CHARTER_MASTER_KEY" in str(refused.value)
    monkeypatch.setenv(MASTER_KEY_ENV, "too-short")
    with pytest.raises(InvalidInput) as invalid:
        _keys(sqlite_services, tmp_path / "home").load()
    assert invalid.value.field == MASTER_KEY_ENV


def test_a_tampered_or_moved_sealed_key_does_not_open(
    sqlite_services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    keys = _keys(sqlite_services, tmp_path / "home")
    keys.ensure()
    row = _rows(sqlite_services)[0]
    master = MasterKey.load(tmp_path / "home")
    with pytest.raises(StoreError):  # bound to its kid: cannot be opened as another row
        master.open(row.sealed_private_key, context="another-kid")
    raw = bytearray(base64.b64decode(row.sealed_private_key))
    raw[20] ^= 1
    with sqlite_services.db.write() as connection:
        connection.execute(
            sa.update(signing_keys).values(sealed_private_key=base64.b64encode(raw).decode())
        )
    with pytest.raises(StoreError) as refused:
        keys.load()
    assert "altered" in str(refused.value)


def test_rotation_overlap_then_retirement_wipes_the_old_private_key(
    services: Services, clock: FixedClock, tmp_path: Path
) -> None:
    keys = _keys(services, tmp_path)
    first = keys.load().signer
    second = keys.rotate(actor="ops", alg=Alg.EDDSA, overlap=3600)
    ring = keys.load()
    assert ring.signer.kid == second.kid and first.kid in ring.keys
    assert {k["kid"] for k in ring.jwks()["keys"]} == {first.kid, second.kid}
    clock.advance(seconds=3601)
    third = keys.rotate(actor="ops", alg=Alg.ES256, immediately=True)
    ring = keys.load()
    assert set(ring.keys) == {third.kid}
    by_kid = {row.kid: row for row in _rows(services)}
    assert by_kid[first.kid].sealed_private_key is None  # retired: nothing left to steal
    assert by_kid[second.kid].sealed_private_key is None  # retired at once (compromise): wiped too
    assert by_kid[third.kid].sealed_private_key is not None
    statuses = {k.kid: k.status(clock.now()) for k in keys.all()}
    assert statuses == {first.kid: "retired", second.kid: "retired", third.kid: "active"}


def test_services_share_keys_through_the_store(
    tmp_path: Path, clock: FixedClock, sqlite_url: str
) -> None:
    one = Services.from_settings(Settings(home=tmp_path, database_url=sqlite_url), clock=clock)
    two = Services.from_settings(Settings(home=tmp_path, database_url=sqlite_url), clock=clock)
    try:
        assert one.tokens.jwks() == two.tokens.jwks()
        rotated = one.tokens.rotate_signing_key(actor="ops", alg=Alg.EDDSA, overlap=60)
        assert rotated.kid in {k["kid"] for k in two.tokens.jwks()["keys"]}
    finally:
        for services in (one, two):
            services.tokens.close()
            services.close()
