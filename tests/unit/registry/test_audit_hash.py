from __future__ import annotations

from charter.domain.audit import GENESIS_HASH, EventDraft, canonical_json, event_hash


def test_hash_covers_every_field() -> None:
    base = (
        1,
        "2026-01-01T00:00:00.000000Z",
        "cli:a",
        "agent.register",
        "agent",
        "x",
        "{}",
        GENESIS_HASH,
    )
    reference = event_hash(*base)
    for index in range(len(base)):
        changed = list(base)
        changed[index] = (
            (changed[index] + 1) if isinstance(changed[index], int) else changed[index] + "!"
        )
        assert event_hash(*changed) != reference  # type: ignore[arg-type]


def test_field_boundaries_cannot_be_shifted() -> None:
    a = event_hash(1, "t", "ab", "c", "agent", "x", "{}", GENESIS_HASH)
    b = event_hash(1, "t", "a", "bc", "agent", "x", "{}", GENESIS_HASH)
    assert a != b


def test_summary_is_canonical() -> None:
    draft = EventDraft("a", "b", "c", "d", {"z": 1, "a": 2}, None)
    assert draft.summary_text() == canonical_json({"after": None, "before": {"a": 2, "z": 1}})
    assert draft.summary_text() == '{"after":null,"before":{"a":2,"z":1}}'
