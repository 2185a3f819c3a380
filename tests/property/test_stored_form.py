"""The estate's SQLite write path encodes values exactly as the plain, slower code would."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.services.reconcile_rows import _json_text, json_text, sqlite_time

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json_values)
def test_the_fast_json_encoder_writes_the_same_text_as_json_dumps(value: Any) -> None:
    assert json_text(value) == _json_text(value)


def test_the_fast_json_encoder_refuses_what_json_dumps_refuses_and_recovers() -> None:
    shared: list[Any] = [1]
    with pytest.raises(TypeError):
        json_text({"a": shared, "b": object()})
    # the failed call must leave no marker behind: the same list encodes fine afterwards
    assert json_text({"a": shared, "c": shared}) == _json_text({"a": shared, "c": shared})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        json_text(loop)
    assert json_text([shared]) == json.dumps([shared])


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=5))])))
def test_cached_time_text_is_the_utc_instant(moment: dt.datetime) -> None:
    expected_utc = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    expected = expected_utc.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    assert sqlite_time(moment) == expected
    assert sqlite_time(moment) == expected  # the cached answer is the same answer
