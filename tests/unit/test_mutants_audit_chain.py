"""Mutation tests for ``domain/audit_chain.py``: ``verify_chain`` over hand-built rows.

Each way a chain can be broken is named with its exact sequence and message,
with the master key and without it (docs/mutation-testing.md).
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from charter.domain.audit import GENESIS_HASH, event_hash
from charter.domain.audit_chain import (
    BOUNDARY,
    HEAD,
    Anchor,
    ChainBroken,
    ChainKey,
    ChainReport,
    KeyMismatch,
    Row,
    check_key,
    verify_chain,
)

KEY = ChainKey(b"k" * 32)
OTHER = ChainKey(b"o" * 32)


def _rows(events: int, keyed_from: int, key: ChainKey = KEY) -> list[Row]:
    """``events`` events, plain SHA-256 links before ``keyed_from`` and keyed links from it."""
    rows: list[Row] = []
    prev = GENESIS_HASH
    for seq in range(1, events + 1):
        fields = (seq, f"2026-01-01T00:00:{seq:02d}Z", "cli:a", "agent.update", "agent", "x", "{}")
        link = event_hash(*fields, prev) if seq < keyed_from else key.link(*fields, prev)
        rows.append((*fields, prev, link))
        prev = link
    return rows


def _anchor(name: str, seq: int, link: str, key: ChainKey = KEY) -> Anchor:
    return Anchor(name, seq, link, key.key_id, key.seal(name, seq, link, key.key_id))


def _anchors(rows: list[Row], keyed_from: int) -> tuple[Anchor, Anchor]:
    before = rows[keyed_from - 2][8] if keyed_from > 1 else GENESIS_HASH
    return _anchor(BOUNDARY, keyed_from, before), _anchor(HEAD, len(rows), rows[-1][8])


def _verify(
    rows: list[Row],
    boundary: Anchor | None,
    head: Anchor | None,
    *,
    key: ChainKey | None = KEY,
    counted: int = 0,
) -> ChainReport:
    return verify_chain(rows, boundary=boundary, head=head, counted=counted, key=key)


def _edited(rows: list[Row], index: int, position: int, value: object) -> list[Row]:
    changed = list(rows)
    row = list(changed[index])
    row[position] = value
    changed[index] = tuple(row)  # type: ignore[assignment]
    return changed


def test_a_mixed_chain_verifies_with_every_figure() -> None:
    rows = _rows(5, keyed_from=3)
    boundary, head = _anchors(rows, 3)
    report = _verify(rows, boundary, head)
    last = rows[-1][8]
    assert report == ChainReport(True, 5, None, None, 3, True, KEY.key_id, last)
    assert report.as_dict() == {
        "ok": True,
        "events": 5,
        "first_broken_seq": None,
        "problem": None,
        "keyed_from": 3,
        "legacy_events": 2,
        "links_checked": True,
        "key_id": KEY.key_id,
        "head_hash": rows[-1][8],
        "checkpoints": 0,
        "newest_checkpoint": None,
    }
    keyless = _verify(rows, boundary, head, key=None)
    assert keyless.ok and not keyless.links_checked and keyless.key_id is None
    assert keyless.head_hash == rows[-1][8] and keyless.keyed_from == 3


def test_a_chain_keyed_from_its_first_event() -> None:
    rows = _rows(3, keyed_from=1)
    boundary, head = _anchors(rows, 1)
    report = _verify(rows, boundary, head)
    assert report.ok and report.as_dict()["legacy_events"] == 0


def test_the_report_of_a_legacy_store_and_of_a_broken_chain() -> None:
    legacy = ChainReport(True, 4, head_hash="a" * 64)
    assert legacy.as_dict()["legacy_events"] == 4 and legacy.as_dict()["head_hash"] == "a" * 64
    broken = ChainReport(False, 4, 2, "x", keyed_from=9, head_hash="a" * 64)
    assert broken.as_dict()["head_hash"] is None
    assert broken.as_dict()["legacy_events"] == 4  # never more than the events there are
    assert ChainReport(True, 0).head_hash == GENESIS_HASH


def test_a_legacy_only_store_counts_its_events_by_the_unsealed_counter() -> None:
    rows = _rows(3, keyed_from=99)
    boundary = Anchor(BOUNDARY, 4, rows[-1][8])  # not sealed until the first keyed append
    report = _verify(rows, boundary, None, counted=3)
    assert report.ok and report.keyed_from is None and report.head_hash == rows[-1][8]
    short = _verify(rows, boundary, None, counted=5)
    assert (short.ok, short.events, short.first_broken_seq) == (False, 3, 4)
    assert short.problem == (
        "the chain ends at event 3 but 5 events were written: events at the end were deleted"
    )
    assert _verify([], boundary, None, counted=0).ok


def test_a_deleted_or_altered_boundary() -> None:
    rows = _rows(4, keyed_from=3)
    boundary, head = _anchors(rows, 3)
    deleted = _verify(rows, None, head)
    assert (deleted.ok, deleted.events, deleted.first_broken_seq) == (False, 0, None)
    assert deleted.problem == "the keyed-chain boundary record was deleted from the store"
    moved = Anchor(BOUNDARY, 2, boundary.hash, boundary.key_id, boundary.mac)
    altered = _verify(rows, moved, head)
    assert (altered.ok, altered.events, altered.first_broken_seq) == (False, 0, 2)
    assert altered.problem == "the keyed-chain boundary record was altered"
    assert altered.keyed_from == 2 and altered.links_checked


def test_a_boundary_that_does_not_continue_the_legacy_segment() -> None:
    rows = _rows(4, keyed_from=3)
    _, head = _anchors(rows, 3)
    boundary = _anchor(BOUNDARY, 3, "c" * 64)  # sealed, but not the link event 3 continues
    report = _verify(rows, boundary, head)
    assert (report.first_broken_seq, report.events) == (3, 3)
    assert report.problem == "event 3 does not continue the legacy segment"
    assert _verify(rows, boundary, head, key=None).problem == report.problem


def test_a_chain_keyed_under_another_master_key_is_refused() -> None:
    rows = _rows(3, keyed_from=2)
    boundary, head = _anchors(rows, 2)
    with pytest.raises(KeyMismatch) as caught:
        _verify(rows, boundary, head, key=OTHER)
    assert caught.value.field == "CHARTER_MASTER_KEY"
    assert caught.value.message == (
        f"the audit chain is keyed with key {KEY.key_id} but this master key gives "
        f"{OTHER.key_id}: set it to the master key the store was written with"
    )
    check_key(boundary, KEY)
    check_key(None, OTHER)
    check_key(boundary, None)
    check_key(Anchor(BOUNDARY, 2, boundary.hash), OTHER)  # unsealed: no key recorded yet


def test_a_missing_event_is_named() -> None:
    rows = _rows(5, keyed_from=3)
    boundary, head = _anchors(rows, 3)
    report = _verify(rows[:1] + rows[2:], boundary, head)
    assert (report.ok, report.events, report.first_broken_seq) == (False, 2, 2)
    assert report.problem == "event 2 is missing (next present is 3)"


@pytest.mark.parametrize("index", [1, 3])  # a legacy and a keyed event
def test_an_event_that_does_not_link_to_the_one_before(index: int) -> None:
    rows = _rows(5, keyed_from=3)
    boundary, head = _anchors(rows, 3)
    report = _verify(_edited(rows, index, 7, "e" * 64), boundary, head)
    seq = index + 1
    assert (report.ok, report.events, report.first_broken_seq) == (False, seq, seq)
    assert report.problem == f"event {seq} does not link to event {seq - 1}"


def test_an_edited_legacy_event_is_found_with_or_without_the_key() -> None:
    rows = _rows(5, keyed_from=3)
    boundary, head = _anchors(rows, 3)
    for position in range(1, 7):
        edited = _edited(rows, 1, position, "edited")
        for key in (KEY, None):
            report = _verify(edited, boundary, head, key=key)
            assert (report.events, report.first_broken_seq) == (2, 2)
            assert report.problem == "event 2 was altered after it was written"


def test_an_edited_keyed_event_is_found_only_with_the_key() -> None:
    rows = _rows(5, keyed_from=3)
    boundary, head = _anchors(rows, 3)
    for index in (2, 4):  # the first keyed event and the last
        for position in range(1, 7):
            edited = _edited(rows, index, position, "edited")
            report = _verify(edited, boundary, head)
            seq = index + 1
            assert (report.ok, report.events, report.first_broken_seq) == (False, seq, seq)
            assert report.problem == (
                f"event {seq} was altered after it was written (its keyed link differs)"
            )
            assert _verify(edited, boundary, head, key=None).ok


def test_a_link_recomputed_under_another_key_is_found() -> None:
    rows = _rows(4, keyed_from=2)
    forged = _rows(4, keyed_from=2, key=OTHER)
    boundary, head = _anchors(rows, 2)
    report = _verify(rows[:1] + forged[1:], boundary, head)
    assert report.first_broken_seq == 2 and "keyed link differs" in (report.problem or "")


def test_every_problem_with_the_sealed_head() -> None:
    rows = _rows(5, keyed_from=3)
    boundary, head = _anchors(rows, 3)

    def problem(head: Anchor | None, rows: list[Row] = rows, key: ChainKey | None = KEY) -> str:
        report = _verify(rows, boundary, head, key=key)
        assert not report.ok and report.first_broken_seq == len(rows) + 1
        assert report.events == len(rows)
        return report.problem or ""

    deleted = "the sealed head record was deleted from the store"
    assert problem(None) == deleted
    assert problem(Anchor(HEAD, 5, head.hash, head.key_id)) == deleted
    assert problem(Anchor(HEAD, 5, head.hash, None, head.mac)) == (
        "the sealed head record was altered (lowered to hide deleted events?)"
    )
    lowered = _anchor(HEAD, 4, rows[3][8], OTHER)
    assert (
        problem(lowered) == "the sealed head record was altered (lowered to hide deleted events?)"
    )
    assert problem(lowered, key=None) == "the sealed head (event 4) does not match the last event 5"
    assert problem(head, rows[:4]) == (
        "the chain ends at event 4 but the sealed head is event 5: events at the end were deleted"
    )
    assert problem(_anchor(HEAD, 5, "d" * 64)) == (
        "the sealed head (event 5) does not match the last event 5"
    )
    assert problem(_anchor(HEAD, 4, rows[3][8])) == (
        "the sealed head (event 4) does not match the last event 5"
    )


def test_an_unsealed_boundary_does_not_key_the_chain() -> None:
    rows = _rows(3, keyed_from=99)
    boundary = Anchor(BOUNDARY, 4, rows[-1][8], KEY.key_id)  # a key id, but no seal yet
    report = _verify(rows, boundary, None, counted=3)
    assert report.ok and report.keyed_from is None


def test_the_chain_key() -> None:
    secret = bytes(range(64))
    key = ChainKey(secret)  # one full SHA-256 block is allowed
    assert key.secret == secret
    assert key.key_id == hmac.new(secret, b"charter audit chain key id", "sha256").hexdigest()[:16]
    assert repr(key) == f"ChainKey(key_id={key.key_id!r})" and secret.hex() not in repr(key)
    fields = (3, "t", "a", "b", "c", "d", "{}", "0" * 64)
    material = "\x1f".join(str(f) for f in fields).encode()
    assert key.link(*fields) == hmac.new(secret, b"v2\x1f" + material, "sha256").hexdigest()
    assert ChainKey(b"").link(*fields) == hmac.new(b"", b"v2\x1f" + material, "sha256").hexdigest()
    seal = hmac.new(secret, b"anchor\x1fhead\x1f9\x1fab\x1fkid", hashlib.sha256)
    assert key.seal("head", 9, "ab", "kid") == seal.hexdigest()
    with pytest.raises(ValueError) as caught:
        ChainKey(bytes(65))
    assert str(caught.value) == "the chain key is at most one SHA-256 block (64 bytes)"


def test_an_anchor_without_a_seal_or_a_key_id_is_not_sealed() -> None:
    sealed = _anchor(HEAD, 9, "a" * 64)
    assert sealed.sealed_by(KEY)
    assert not Anchor(HEAD, 9, "a" * 64, KEY.key_id).sealed_by(KEY)
    assert not Anchor(HEAD, 9, "a" * 64, None, sealed.mac).sealed_by(KEY)
    assert not Anchor(HEAD, 9, "a" * 64, "other", sealed.mac).sealed_by(KEY)


def test_a_broken_chain_is_a_conflict() -> None:
    assert (ChainBroken.status, ChainBroken.code) == (409, "audit-chain-broken")
