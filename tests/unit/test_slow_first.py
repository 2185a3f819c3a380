"""tests/conftest.py puts the slow end-to-end tests first, so none is left to run alone last."""

from __future__ import annotations

from tests.conftest import pytest_collection_modifyitems


class _Item:
    def __init__(self, name: str, slow: bool) -> None:
        self.name, self.slow = name, slow

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "slow" and self.slow else None


def test_slow_tests_move_to_the_front_and_the_rest_keep_their_order() -> None:
    items = [_Item("a", False), _Item("b", True), _Item("c", False), _Item("d", True)]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.name for item in items] == ["b", "d", "a", "c"]


def test_the_walkthrough_is_marked_slow() -> None:
    from tests.integration import test_walkthrough

    marks = test_walkthrough.test_the_walkthrough_runs_on_a_fresh_store.pytestmark  # type: ignore[attr-defined]
    assert any(mark.name == "slow" for mark in marks)
