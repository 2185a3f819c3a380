"""Mutation tests for ``domain/audit.py``: the exact bytes a link covers.

A stored summary is hashed as written, so the canonical JSON must stay
byte-for-byte what it was when old events were hashed (docs/mutation-testing.md).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from charter.domain.audit import (
    GENESIS_HASH,
    Event,
    EventDraft,
    canonical_json,
    event_hash,
    event_material,
)

FIELDS = (7, "2026-01-01T00:00:00.000000Z", "cli:a", "agent.register", "agent", "x", "{}", "f" * 64)


def test_canonical_json_keeps_non_ascii_text_as_written() -> None:
    assert canonical_json({"name": "Zoë"}) == '{"name":"Zoë"}'


def test_canonical_json_writes_other_values_as_their_text() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert canonical_json({"at": when}) == '{"at":"2026-01-02 03:04:05+00:00"}'


def test_canonical_json_is_compact_and_sorted() -> None:
    assert canonical_json({"b": [1, 2], "a": None}) == '{"a":null,"b":[1,2]}'


def test_the_material_is_the_fields_joined_by_unit_separators() -> None:
    expected = "7\x1f2026-01-01T00:00:00.000000Z\x1fcli:a\x1fagent.register\x1fagent\x1fx\x1f{}\x1f"
    assert event_material(*FIELDS) == (expected + "f" * 64).encode()


def test_the_legacy_link_is_sha256_of_the_material() -> None:
    assert event_hash(*FIELDS) == hashlib.sha256(event_material(*FIELDS)).hexdigest()
    assert GENESIS_HASH == "0" * 64


def test_an_event_reads_before_and_after_from_its_summary() -> None:
    draft = EventDraft("a", "b", "c", "d", before={"x": "é"}, after=[1])
    event = Event(1, "t", "a", "b", "c", "d", draft.summary_text(), GENESIS_HASH, "h")
    assert event.before == {"x": "é"} and event.after == [1]
