"""Dates in every export's habits, and the AI signals connectors share."""

from __future__ import annotations

import datetime as dt

import pytest

from charter.connectors import ai_signals
from charter.connectors.dates import parse_time
from charter.errors import InvalidInput

UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-13T09:21:44+00:00", dt.datetime(2025, 1, 13, 9, 21, 44, tzinfo=UTC)),
        ("2025-01-13T09:21:44Z", dt.datetime(2025, 1, 13, 9, 21, 44, tzinfo=UTC)),
        ("2023-05-16T08:47:09.000-07:00", dt.datetime(2023, 5, 16, 15, 47, 9, tzinfo=UTC)),
        ("2024-01-02T03:04:05.1234567Z", dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2025-01-13 09:21:44", dt.datetime(2025, 1, 13, 9, 21, 44, tzinfo=UTC)),
        ("2025-01-13", dt.datetime(2025, 1, 13, tzinfo=UTC)),
        ("Mon, 13 Jan 2025 09:21:44 GMT", dt.datetime(2025, 1, 13, 9, 21, 44, tzinfo=UTC)),
        (1574296707, dt.datetime(2019, 11, 21, 0, 38, 27, tzinfo=UTC)),
        ("1574296707", dt.datetime(2019, 11, 21, 0, 38, 27, tzinfo=UTC)),
        (1574296707000, dt.datetime(2019, 11, 21, 0, 38, 27, tzinfo=UTC)),
        ("N/A", None),
        ("no_information", None),
        ("not_supported", None),
        ("", None),
        (None, None),
        ("9999-12-31T23:59:59Z", None),
    ],
)
def test_every_export_date_habit(value: object, expected: dt.datetime | None) -> None:
    assert parse_time(value, where="f.json: [0]", field="created") == expected


@pytest.mark.parametrize("value", ["13/01/2025", "yesterday", "2025-13-45", {"a": 1}])
def test_unreadable_dates_name_the_record_and_field(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_time(value, where="users.json: [3]", field="created")
    assert caught.value.field == "users.json: [3].created"


@pytest.mark.parametrize(
    ("name", "hit"),
    [
        ("BedrockClaimsAgent", True),
        ("gpt-reviewer", True),
        ("support-ai-bot", True),
        ("Otter.ai", True),
        ("ChatGPT", True),
        ("datadog-agent", False),
        ("airflow", False),
        ("maintainer", False),
        ("drag-drop", False),
    ],
)
def test_name_signal(name: str, hit: bool) -> None:
    assert (ai_signals.name_signal(name) is not None) is hit


def test_tag_and_trust_signals() -> None:
    assert ai_signals.tag_signal({"ai-workload": "true"}) == "tag ai-workload=true"
    assert ai_signals.tag_signal({"ai": "false"}) is None
    assert ai_signals.aws_service_signal(["lambda.amazonaws.com", "bedrock.amazonaws.com"]) == (
        "trusted by bedrock.amazonaws.com"
    )
    assert ai_signals.aws_service_signal(["ec2.amazonaws.com"]) is None
