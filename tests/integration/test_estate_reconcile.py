"""ReconcileService on SQLite and PostgreSQL: upsert, idempotence, cleanup scoped per account."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import Conflict, InvalidInput
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.reconcile import CHUNK, Batch
from charter.store import schema

T0 = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)


def _identity(account: str, n: int, **extra: object) -> Identity:
    values: dict[str, object] = {
        "id": f"aws:{account}:role/app-{n}",
        "source": "aws",
        "account": account,
        "kind": IdentityKind.CLOUD_ROLE,
        "name": f"app-{n}",
        "system": f"aws:{account}",
        "native_id": f"arn:aws:iam::{account}:role/app-{n}",
        "created_at": T0,
        "evidence": ("trust: lambda.amazonaws.com",),
        "properties": {"tags": {"team": "platform"}, "path": "/"},
    }
    values.update(extra)
    return Identity(**values)  # type: ignore[arg-type]


def _credential(account: str, n: int, **extra: object) -> Credential:
    values: dict[str, object] = {
        "id": f"aws:{account}:key/AKIA{n:016d}",
        "source": "aws",
        "account": account,
        "kind": CredentialKind.ACCESS_KEY,
        "provider": "aws",
        "fingerprint": f"{n:064x}",
        "preview": f"AKIA…{n:04d}",
        "identity": f"aws:{account}:role/app-{n}",
        "created_at": T0,
        "last_used_at": T0 + dt.timedelta(days=3),
    }
    values.update(extra)
    return Credential(**values)  # type: ignore[arg-type]


def _grant(account: str, n: int, perms: tuple[str, ...] = ("s3:GetObject",)) -> Grant:
    return Grant(
        id=f"aws:{account}:grant/app-{n}/s3",
        source="aws",
        account=account,
        subject_type="identity",
        subject=f"aws:{account}:role/app-{n}",
        system=f"aws:{account}",
        resource="arn:aws:s3:::reports/*",
        permissions=perms,
        reason=f"role app-{n} has policy ReadReports",
    )


def _batch(account: str, ns: range, **changes: object) -> Batch:
    return Batch(
        "aws",
        account,
        systems=[System(f"aws:{account}", "aws", f"AWS account {account}")],
        identities=[_identity(account, n) for n in ns],
        credentials=[_credential(account, n) for n in ns],
        grants=[_grant(account, n, **changes) for n in ns],  # type: ignore[arg-type]
        origin=("auth.json",),
    )


def _rows(services: Services, table: sa.Table) -> dict[str, sa.Row[object]]:
    with services.db.read() as connection:
        return {row.id: row for row in connection.execute(sa.select(table))}


def test_first_ingest_creates_and_records_one_event(services: Services) -> None:
    result = services.reconcile.apply(_batch("111122223333", range(3)), actor="test")
    assert (result.identities.created, result.credentials.created, result.grants.created) == (
        3,
        3,
        3,
    )
    assert result.systems.created == 1
    events = services.audit.list(action="estate.ingest")
    assert len(events) == 1
    assert events[0].target == "aws:111122223333"
    assert events[0].after["identities"]["created"] == 3
    row = _rows(services, schema.identities)["aws:111122223333:role/app-0"]
    assert row.first_seen is not None and row.gone_at is None
    assert row.properties["tags"] == {"team": "platform"} and row.properties["path"] == "/"
    assert row.properties["attribution"]["agent"] is None  # attribution ran in the same transaction


def test_reingesting_the_same_export_changes_nothing(services: Services, clock: FixedClock) -> None:
    services.reconcile.apply(_batch("111122223333", range(3)), actor="test")
    before = _rows(services, schema.credentials)
    events = services.audit.count()
    clock.advance(days=1)
    again = services.reconcile.apply(_batch("111122223333", range(3)), actor="test")
    assert not again.changed
    assert again.identities.unchanged == 3 and again.credentials.unchanged == 3
    assert services.audit.count() == events  # no new audit event
    after = _rows(services, schema.credentials)
    for key, row in after.items():
        old = before[key]
        assert row.first_seen == old.first_seen
        assert row.last_seen > old.last_seen  # seen again
        assert row.fingerprint == old.fingerprint


def test_newer_export_updates_changes_and_marks_disappeared_gone(
    services: Services, clock: FixedClock
) -> None:
    services.reconcile.apply(_batch("111122223333", range(3)), actor="test")
    services.reconcile.apply(_batch("999988887777", range(2)), actor="test")
    clock.advance(days=1)
    newer = services.reconcile.apply(
        _batch("111122223333", range(2), perms=("s3:GetObject", "s3:PutObject")), actor="test"
    )
    assert newer.grants.updated == 2
    assert newer.identities.gone == 1 and newer.credentials.gone == 1 and newer.grants.gone == 1
    assert newer.identities.gone_ids == ["aws:111122223333:role/app-2"]
    identities = _rows(services, schema.identities)
    assert identities["aws:111122223333:role/app-2"].gone_at is not None
    # the other account is never touched by this account's cleanup
    assert all(row.gone_at is None for key, row in identities.items() if key.startswith("aws:9999"))
    grant = _rows(services, schema.grants)["aws:111122223333:grant/app-0/s3"]
    assert list(grant.permissions) == ["s3:GetObject", "s3:PutObject"]
    event = services.audit.list(action="estate.ingest", limit=1)[0]
    assert event.after["identities"]["gone"] == 1


def test_a_record_that_comes_back_is_revived(services: Services, clock: FixedClock) -> None:
    services.reconcile.apply(_batch("111122223333", range(2)), actor="test")
    clock.advance(hours=1)
    services.reconcile.apply(_batch("111122223333", range(1)), actor="test")
    clock.advance(hours=1)
    back = services.reconcile.apply(_batch("111122223333", range(2)), actor="test")
    assert back.identities.updated == 1
    assert _rows(services, schema.identities)["aws:111122223333:role/app-1"].gone_at is None


def test_partial_batch_does_not_clean_up(services: Services) -> None:
    services.reconcile.apply(_batch("111122223333", range(3)), actor="test")
    partial = Batch(
        "aws", "111122223333", identities=[_identity("111122223333", 0)], complete=False
    )
    result = services.reconcile.apply(partial, actor="test")
    assert result.identities.gone == 0 and result.credentials.gone == 0


def test_duplicate_id_across_chunks_rolls_back_everything(services: Services) -> None:
    records = [_identity("111122223333", n) for n in range(CHUNK + 5)]
    records.append(_identity("111122223333", 3))
    with pytest.raises(InvalidInput, match=r"role/app-3' appears twice"):
        services.reconcile.apply(Batch("aws", "111122223333", identities=records), actor="t")
    assert _rows(services, schema.identities) == {}
    assert services.audit.count() == 0


def test_record_of_another_scope_is_refused(services: Services) -> None:
    batch = Batch("aws", "111122223333", identities=[_identity("999988887777", 1)])
    with pytest.raises(InvalidInput, match="not to the batch's aws:111122223333") as caught:
        services.reconcile.apply(batch, actor="t")
    assert caught.value.field == "identity.account"


def test_id_owned_by_another_scope_is_a_conflict(services: Services) -> None:
    services.reconcile.apply(_batch("111122223333", range(1)), actor="t")
    stolen = _identity("999988887777", 0, id="aws:111122223333:role/app-0")
    with pytest.raises(Conflict):
        services.reconcile.apply(Batch("aws", "999988887777", identities=[stolen]), actor="t")


def test_non_json_property_names_the_record(services: Services) -> None:
    bad = _identity("111122223333", 0, properties={"when": object()})
    with pytest.raises(InvalidInput, match=r"role/app-0' properties"):
        services.reconcile.apply(Batch("aws", "111122223333", identities=[bad]), actor="t")


def test_streams_are_consumed_lazily_in_chunks(services: Services) -> None:
    produced = 0

    def stream() -> object:
        nonlocal produced
        for n in range(CHUNK * 2 + 1):
            produced += 1
            yield _identity("111122223333", n)

    result = services.reconcile.apply(
        Batch("aws", "111122223333", identities=stream()),  # type: ignore[arg-type]
        actor="t",
    )
    assert produced == CHUNK * 2 + 1
    assert result.identities.created == CHUNK * 2 + 1
    assert len(result.identities.created_ids) == 20  # the sample, not every id
