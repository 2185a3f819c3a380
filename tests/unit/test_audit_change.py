"""An audit event's change read as ``key: before → after`` lines, never a cut-off dict."""

from __future__ import annotations

from charter.domain.audit_change import change_lines, value_text


def test_changed_added_removed_and_unchanged_keys() -> None:
    before = {"state": "proposed", "owner": "ada@acme.example", "note": "x"}
    after = {"state": "active", "owner": "ada@acme.example", "reason": "approved in SEC-101"}
    assert change_lines(before, after) == [
        "state: proposed → active",
        "reason: approved in SEC-101",
        "note: x → (removed)",
    ]


def test_a_creation_lists_its_keys_as_json_and_leaves_empty_ones_out() -> None:
    after = {"added": ["no-iam-changes", "payouts"], "removed": [], "version": 1, "m": None}
    assert change_lines(None, after) == ['added: ["no-iam-changes", "payouts"]', "version: 1"]
    assert change_lines({"a": 1}, None) == ["a: 1 → (removed)"]
    assert change_lines(None, None) == []
    assert change_lines("old", ["new"]) == ["before: old", 'after: ["new"]']


def test_long_values_end_in_an_ellipsis_on_one_line() -> None:
    text = value_text({"reason": "word " * 100}, width=40)
    assert len(text) == 40 and text.endswith("…") and "\n" not in text
    assert text.startswith('{"reason": "word word')
    assert value_text("two\nlines") == "two lines"
