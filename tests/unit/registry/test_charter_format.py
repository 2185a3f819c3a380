"""The charter file format: what it accepts, what it refuses, and the field it names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.domain.charter import CharterSpec, charter_json_schema
from charter.domain.charter_parsing import MAX_CHARTER_BYTES, parse_charter, parse_charter_text
from charter.errors import InputTooLarge, InvalidInput

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "agents"

MINIMAL = {"name": "ticket-bot", "owner": "Maria@Acme.example", "purpose": "summarise tickets"}


def test_every_example_charter_parses() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 3
    for file in files:
        spec = parse_charter_text(file.read_text(), source=file.name)
        assert spec.name == file.stem


def test_minimal_charter_gets_sane_defaults() -> None:
    spec = parse_charter(MINIMAL)
    assert spec.owner == "maria@acme.example"
    assert spec.allow == [] and spec.deny == []
    assert spec.delegation.allowed is False
    assert spec.credentials.max_token_lifetime == 900
    assert spec.review.every == 90 * 86400


def test_durations_are_human_and_round_trip() -> None:
    spec = parse_charter({**MINIMAL, "credentials": {"max_token_lifetime": "10m"}})
    assert spec.credentials.max_token_lifetime == 600
    assert spec.document()["credentials"]["max_token_lifetime"] == "10m"
    assert CharterSpec.model_validate(spec.document()) == spec


def test_json_is_accepted_as_well_as_yaml() -> None:
    spec = parse_charter_text(json.dumps(MINIMAL))
    assert spec.name == "ticket-bot"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"name": "x", "purpose": "long enough purpose"}, "owner"),
        ({**MINIMAL, "owner": "not-an-email"}, "owner"),
        ({**MINIMAL, "purpose": None}, "purpose"),
        ({**MINIMAL, "name": "Has Spaces"}, "name"),
        ({**MINIMAL, "colour": "blue"}, "colour"),
        ({**MINIMAL, "allow": [{"action": "tickets read"}]}, "allow[0].action"),
        ({**MINIMAL, "allow": [{"action": "a", "resource": "x\\y"}]}, "allow[0].resource"),
        ({**MINIMAL, "allow": [{"action": "*" * 20}]}, "allow[0].action"),
        (
            {
                **MINIMAL,
                "deny": [{"action": "a", "when": [{"attribute": "x", "op": "lt", "value": "s"}]}],
            },
            "deny[0].when[0]",
        ),
        (
            {
                **MINIMAL,
                "allow": [{"action": "a", "when": [{"attribute": "x", "op": "in", "value": 3}]}],
            },
            "allow[0].when[0]",
        ),
        (
            {
                **MINIMAL,
                "allow": [
                    {"action": "a", "when": [{"attribute": "x", "op": "cidr", "value": "nope"}]}
                ],
            },
            "allow[0].when[0]",
        ),
        (
            {
                **MINIMAL,
                "allow": [
                    {
                        "action": "a",
                        "when": [{"attribute": "os.system('x')", "op": "eq", "value": 1}],
                    }
                ],
            },
            "allow[0].when[0].attribute",
        ),
        (
            {**MINIMAL, "allow": [{"action": "a", "schedule": {"timezone": "Mars/Olympus"}}]},
            "allow[0].schedule.timezone",
        ),
        (
            {**MINIMAL, "allow": [{"action": "a", "schedule": {"start": "25:00"}}]},
            "allow[0].schedule.start",
        ),
        (
            {**MINIMAL, "credentials": {"max_token_lifetime": "3d"}},
            "credentials.max_token_lifetime",
        ),
        (
            {**MINIMAL, "credentials": {"max_token_lifetime": "soon"}},
            "credentials.max_token_lifetime",
        ),
        ({**MINIMAL, "delegation": {"allowed": False, "groups": ["support"]}}, "delegation"),
        ({**MINIMAL, "expires": "next year"}, "expires"),
    ],
)
def test_bad_charters_name_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_charter(document)
    assert caught.value.field == field, str(caught.value)


def test_unknown_field_is_called_unknown() -> None:
    with pytest.raises(InvalidInput, match="colour: unknown field"):
        parse_charter({**MINIMAL, "colour": "blue"})


def test_yaml_bomb_is_refused_before_expansion() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20)
    )
    with pytest.raises(InvalidInput, match="aliases|anchors") as caught:
        parse_charter_text(bomb)
    assert caught.value.field == "file"


def test_oversize_file_is_refused() -> None:
    text = "name: x\npurpose: " + "y" * (MAX_CHARTER_BYTES + 1)
    with pytest.raises(InputTooLarge):
        parse_charter_text(text)


def test_non_mapping_and_garbage_are_refused() -> None:
    with pytest.raises(InvalidInput, match="mapping"):
        parse_charter_text("- a\n- b\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        parse_charter_text("name: [unclosed\n")
    with pytest.raises(InvalidInput, match="UTF-8"):
        parse_charter_text(b"\xff\xfe\x00name")


def test_python_tags_are_not_executed() -> None:
    with pytest.raises(InvalidInput):
        parse_charter_text("name: !!python/object/apply:os.system ['echo hi']\n")


def test_schema_is_generated_from_the_model() -> None:
    schema = charter_json_schema()
    assert set(schema["required"]) == {"name", "owner", "purpose"}
    assert schema["additionalProperties"] is False
    condition = schema["$defs"]["Condition"]
    assert set(condition["properties"]["op"]["$ref"].split("/")[-1:]) == {"ConditionOp"}


def test_an_anchor_alone_is_refused() -> None:
    with pytest.raises(InvalidInput, match="anchors") as caught:
        parse_charter_text(
            "name: &n ticket-bot\nowner: a@acme.example\npurpose: summarise tickets\n"
        )
    assert caught.value.field == "file"
