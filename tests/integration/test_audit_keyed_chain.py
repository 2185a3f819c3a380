"""The keyed audit chain against a database writer (SQLite and PostgreSQL).

Each attack here passed ``charter audit verify`` while links were plain SHA-256
and the head an unsealed counter.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from charter.config import Settings
from charter.domain.audit import GENESIS_HASH, EventDraft, event_hash
from charter.domain.audit_chain import KeyMismatch
from charter.errors import StoreError
from charter.services.audit_keys import AuditKeyring
from charter.services.context import Services
from charter.store import schema
from charter.store.audit_schema import audit_anchors

E = schema.events


def _append(services: Services, count: int, start: int = 0) -> None:
    services.audit.append(
        [
            EventDraft("test:admin", "test.append", "test", f"t{n}", None, n)
            for n in range(start, start + count)
        ]
    )


def _rows(connection: sa.Connection) -> list[sa.Row]:  # type: ignore[type-arg]
    return list(connection.execute(sa.select(E).order_by(E.c.seq)))


def _relink_with_sha(connection: sa.Connection, start: int) -> None:
    """What a writer without the key does after editing event ``start``:
    recompute every later link.
    """
    rows = _rows(connection)
    prev = rows[start - 2].hash if start > 1 else GENESIS_HASH
    for row in rows[start - 1 :]:
        digest = event_hash(
            row.seq, row.time, row.actor, row.action, row.target_type, row.target, row.summary, prev
        )
        connection.execute(
            sa.update(E).where(E.c.seq == row.seq).values(prev_hash=prev, hash=digest)
        )
        prev = digest


def test_an_intact_chain_verifies_with_the_key(services: Services) -> None:
    _append(services, 10)
    report = services.audit.verify()
    assert report.ok, report.problem
    assert report.events == 10 and report.keyed_from == 1 and report.links_checked
    assert report.key_id == services.audit.keyring.keys().chain.key_id


def test_deleting_the_last_events_and_lowering_the_head_is_caught(services: Services) -> None:
    _append(services, 10)
    with services.db.write() as connection:
        connection.execute(sa.delete(E).where(E.c.seq > 7))
        connection.execute(
            sa.update(schema.meta).where(schema.meta.c.key == "audit_head").values(value=7)
        )
    report = services.audit.verify()
    assert not report.ok
    assert "deleted" in (report.problem or "")


def test_lowering_the_sealed_head_too_is_caught(services: Services) -> None:
    _append(services, 10)
    with services.db.write() as connection:
        last = _rows(connection)[6]
        connection.execute(sa.delete(E).where(E.c.seq > 7))
        connection.execute(
            sa.update(schema.meta).where(schema.meta.c.key == "audit_head").values(value=7)
        )
        connection.execute(
            sa.update(audit_anchors)
            .where(audit_anchors.c.name == "head")
            .values(seq=7, hash=last.hash)
        )
    report = services.audit.verify()
    assert not report.ok and "head record was altered" in (report.problem or "")


def test_editing_a_row_and_recomputing_later_links_with_sha256_is_caught(
    services: Services,
) -> None:
    _append(services, 10)
    with services.db.write() as connection:
        connection.execute(sa.update(E).where(E.c.seq == 4).values(actor="mallory"))
        _relink_with_sha(connection, 4)
        last = _rows(connection)[-1]
        connection.execute(
            sa.update(audit_anchors).where(audit_anchors.c.name == "head").values(hash=last.hash)
        )
    report = services.audit.verify()
    assert not report.ok
    assert report.first_broken_seq == 4 and "keyed link" in (report.problem or "")


def test_passing_the_keyed_segment_off_as_legacy_needs_the_key(services: Services) -> None:
    _append(services, 5)
    with services.db.write() as connection:
        connection.execute(sa.update(E).where(E.c.seq == 2).values(actor="mallory"))
        _relink_with_sha(connection, 1)
        connection.execute(
            sa.update(audit_anchors).where(audit_anchors.c.name == "keyed_from").values(seq=6)
        )
    report = services.audit.verify()
    assert not report.ok and "boundary record was altered" in (report.problem or "")


def test_the_key_is_never_in_the_database(services: Services) -> None:
    _append(services, 3)
    keys = services.audit.keyring.keys()
    secrets = {keys.chain.secret.hex(), keys.checkpoint.seed.hex(), keys.chain.secret.hex().upper()}
    with services.db.read() as connection:
        for table in schema.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                text = " ".join(str(value) for value in row)
                assert not any(secret in text for secret in secrets), table.name


def test_a_legacy_segment_keeps_verifying_and_is_reported(
    database_url: str, tmp_path: Path
) -> None:
    """A store written before keyed links, then migrated: its events stay a legacy segment."""
    services = Services.from_settings(Settings(home=tmp_path, database_url=database_url))
    try:
        with services.db.write() as connection:  # back to the schema before keyed links
            connection.execute(sa.text("DROP TABLE audit_anchors"))
            connection.execute(
                sa.text("DELETE FROM alembic_version WHERE version_num = '0006_audit'")
            )
            prev = GENESIS_HASH
            for seq in (1, 2, 3):
                row = (
                    seq,
                    "2026-01-01T00:00:00.000000Z",
                    "old",
                    "test.old",
                    "test",
                    f"o{seq}",
                    "{}",
                )
                digest = event_hash(*row, prev)
                names = ("seq", "time", "actor", "action", "target_type", "target", "summary")
                values = dict(zip(names, row, strict=True))
                connection.execute(sa.insert(E).values(**values, prev_hash=prev, hash=digest))
                prev = digest
            connection.execute(sa.insert(schema.meta).values(key="audit_head", value=3))
        services.db.migrate()
        before = services.audit.verify()
        assert before.ok and before.keyed_from is None and before.as_dict()["legacy_events"] == 3
        _append(services, 2)
        report = services.audit.verify()
        assert report.ok, report.problem
        assert report.keyed_from == 4 and report.events == 5
        assert report.as_dict()["legacy_events"] == 3
        with services.db.write() as connection:
            connection.execute(sa.update(E).where(E.c.seq == 5).values(actor="mallory"))
            _relink_with_sha(connection, 5)
        assert not services.audit.verify().ok
    finally:
        services.close()


def test_another_master_key_cannot_verify_or_append(services: Services, tmp_path: Path) -> None:
    _append(services, 3)
    other = AuditKeyring(tmp_path / "elsewhere", {"CHARTER_MASTER_KEY": "A" * 43 + "="})
    services.audit.keyring = other
    services.audit._sealed = None
    with pytest.raises(KeyMismatch, match="CHARTER_MASTER_KEY"):
        services.audit.verify()
    with pytest.raises(StoreError, match="keyed with key"):
        _append(services, 1)


def test_without_the_master_key_the_order_is_still_checked(
    services: Services, tmp_path: Path
) -> None:
    _append(services, 4)
    services.audit.keyring = AuditKeyring(tmp_path / "auditor", {})
    report = services.audit.verify()
    assert report.ok and not report.links_checked
    with services.db.write() as connection:
        connection.execute(sa.delete(E).where(E.c.seq == 2))
    assert not services.audit.verify().ok


def test_a_rolled_back_first_append_leaves_the_boundary_unsealed(services: Services) -> None:
    """The first keyed append seals the boundary; if its transaction fails, nothing is sealed."""

    def failing_change() -> None:
        with services.db.write() as connection:
            services.audit.record(connection, EventDraft("test:admin", "test.fail", "test", "x"))
            raise RuntimeError("the change this event recorded failed")

    with pytest.raises(RuntimeError):
        failing_change()
    with services.db.read() as connection:
        boundary = connection.execute(
            sa.select(audit_anchors).where(audit_anchors.c.name == "keyed_from")
        ).one()
    assert boundary.mac is None
    _append(services, 3)
    report = services.audit.verify()
    assert report.ok, report.problem
    assert report.keyed_from == 1 and report.events == 3
