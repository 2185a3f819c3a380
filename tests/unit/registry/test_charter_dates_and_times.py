"""Dates and times as people write them in charter YAML: a bad one names the field and the form."""

from __future__ import annotations

import pytest

from charter.domain.charter_parsing import load_yaml, parse_charter_text
from charter.errors import InvalidInput

HEAD = "name: a1\nowner: ana@acme.example\npurpose: answer support tickets\n"


@pytest.mark.parametrize("written", ["2027-31-06", "30/06/2027", "2027-02-30", "soon"])
def test_a_bad_expiry_names_the_field_the_value_and_the_form(written: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_charter_text(HEAD + f"expires: {written}\n")
    assert caught.value.field == "expires"
    assert str(caught.value) == (
        f"expires: '{written}' is not a date: write YYYY-MM-DD (e.g. 2027-06-30)"
    )


def test_a_good_expiry_is_still_a_date() -> None:
    assert str(parse_charter_text(HEAD + "expires: 2027-06-30\n").expires) == "2027-06-30"


def test_a_bad_validity_moment_names_its_path_and_the_form() -> None:
    text = HEAD + "allow:\n  - action: x.read\n    valid:\n      until: 2027-13-01\n"
    with pytest.raises(InvalidInput) as caught:
        parse_charter_text(text)
    assert caught.value.field == "allow[0].valid.until"
    assert "'2027-13-01' is not a date and time: write YYYY-MM-DDTHH:MM" in str(caught.value)


def test_unquoted_clock_times_are_the_times_written_not_base_60_numbers() -> None:
    text = (
        HEAD + "allow:\n  - action: x.read\n    schedule:\n      start: 19:00\n      end: 23:30\n"
    )
    schedule = parse_charter_text(text).allow[0].schedule
    assert schedule is not None
    assert (schedule.start, schedule.end) == ("19:00", "23:30")
    assert load_yaml("a: 1:30\nb: 1140\nc: 1.5\nd: 190:20.5", source="t") == {
        "a": "1:30",
        "b": 1140,
        "c": 1.5,
        "d": "190:20.5",
    }


def test_a_number_where_text_belongs_says_to_quote_it() -> None:
    text = '{"name": "a1", "owner": "ana@acme.example", "purpose": "answer support tickets",'
    text += ' "allow": [{"action": "x", "schedule": {"start": 1140}}]}'
    with pytest.raises(InvalidInput) as caught:
        parse_charter_text(text)
    assert (
        str(caught.value) == "allow[0].schedule.start: expected text, got 1140: write it in quotes"
    )


def test_yaml_syntax_errors_are_one_line_with_the_place() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_charter_text("name: [\n", source="a.yaml")
    assert "\n" not in str(caught.value)
    assert "a.yaml is not valid YAML:" in str(caught.value)
    assert "(line 2, column 1)" in str(caught.value)


def test_several_problems_are_one_line_first_field_first() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_charter_text("name: A B\nowner: nobody\npurpose: short\n")
    message = str(caught.value)
    assert message.startswith("name: ") and "; owner: " in message and "; purpose: " in message
    assert message.count("name:") == 1
