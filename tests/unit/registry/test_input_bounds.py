"""Every JSON and YAML input is bounded in depth, and a key given twice is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.domain.charter_parsing import load_document
from charter.domain.duplicate_keys import duplicate_json_key
from charter.domain.governance.policy import load_policy_file
from charter.domain.nesting import MAX_DEPTH, load_json, nests_deeper
from charter.errors import InvalidInput
from charter.services.people import parse_directory, read_directory


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "deeper"),
    [
        (nested(MAX_DEPTH), False),
        (nested(MAX_DEPTH + 1), True),
        ('{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH, False),
        ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), True),
        ("[" * 100_000, True),  # unclosed: as deep as it is long
        ('"' + "[" * 1000 + '"', False),  # brackets in a string do not nest
        (json.dumps(["\\", "[" * 1000, '"]]]' * 100]), False),  # escapes do not end strings
        # a string full of closers must not hide the depth that follows it
        (json.dumps(["]]]]" * 50]) + nested(MAX_DEPTH + 1), True),
        ("[" + "[]," * 10_000 + "[]]", False),  # wide, shallow
        # towers: stripping one level per pass stops paying, the runs are counted instead
        ("[" + ",".join([nested(5)] * 10_000 + [nested(MAX_DEPTH - 1)]) + "]", False),
        ("[" + ",".join([nested(5)] * 10_000 + [nested(MAX_DEPTH)]) + "]", True),
        ("[" + ",".join([nested(MAX_DEPTH - 1)] * 1_000) + "]", False),
        ("[" + ",".join([nested(MAX_DEPTH - 1)] * 999 + ['{"a":' + nested(63) + "}"]) + "]", True),
    ],
)
def test_nests_deeper_scans_bytes_without_parsing(text: str, deeper: bool) -> None:
    assert nests_deeper(text) is deeper
    assert nests_deeper(text.encode()) is deeper


def test_load_json_refuses_100000_deep_with_the_limit_named() -> None:
    with pytest.raises(InvalidInput, match=f"deeper than {MAX_DEPTH} levels"):
        load_json("[" * 100_000 + "]" * 100_000, source="people.json")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "name: " + "[" * 100_000 + "]" * 100_000,  # YAML flow
        "name:\n" + "".join(" " * i + "- \n" for i in range(1, 200)),  # YAML block
    ],
)
def test_charter_and_policy_files_refuse_deep_nesting(text: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=f"nests deeper than {MAX_DEPTH}"):
        load_document(text, source="agent.yaml")
    policy = tmp_path / "governance.yaml"
    policy.write_text(text)
    with pytest.raises(InvalidInput, match=f"nests deeper than {MAX_DEPTH}"):
        load_policy_file(policy)


def test_yaml_duplicate_key_is_refused_with_key_and_line() -> None:
    text = "name: a\nowner: ana@acme.example\npurpose: p\nowner: mallory@acme.example\n"
    with pytest.raises(InvalidInput, match=r"key 'owner' appears twice .*\(line 4\)") as caught:
        load_document(text, source="agent.yaml")
    assert caught.value.field == "owner"


def test_nested_yaml_duplicate_is_refused_but_equal_keys_in_siblings_are_fine() -> None:
    ok = "allow:\n  - action: a\n    resource: r\n  - action: b\n    resource: r\n"
    assert load_document(ok)["allow"][1]["action"] == "b"
    with pytest.raises(InvalidInput, match=r"key 'action' appears twice .*\(line 3\)"):
        load_document("allow:\n  - action: a\n    action: b\n")


def test_json_duplicate_key_is_refused_with_key_and_line() -> None:
    text = '{\n "name": "a",\n "labels": {"owner": "x"},\n "owner": "a@x.example",\n'
    text += ' "owner": "b@x.example"\n}'
    with pytest.raises(InvalidInput, match=r"key 'owner' appears twice .*\(line 5\)"):
        load_document(text, source="agent.json")


def test_duplicate_json_key_finds_escaped_spellings_and_ignores_values() -> None:
    assert duplicate_json_key('{"a": "a", "b": ["a", "a"]}') is None
    assert duplicate_json_key('{"a": 1,\n"\\u0061": 2}') == ("a", 2)
    assert duplicate_json_key('[{"a": 1}, {"a": 2}]') is None


def test_policy_file_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "governance.yaml"
    policy.write_text("thresholds: {}\nthresholds:\n  stale_after: 1d\n")
    with pytest.raises(InvalidInput, match=r"key 'thresholds' appears twice .*\(line 2\)"):
        load_policy_file(policy)


def test_people_import_refuses_deep_json() -> None:
    with pytest.raises(InvalidInput, match="deeper than"):
        parse_directory(b"[" * 100_000 + b"]" * 100_000, filename="people.json")


SCIM_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "u1",
    "userName": "grace@acme.example",
    "emails": [{"value": "grace@acme.example", "primary": True}],
    "title": "Engineer",  # a SCIM attribute Charter does not use: fine
    "urn:example:params:scim:schemas:extension:acme:2.0:User": {"costCenter": "7"},
}


def scim(*users: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "Resources": list(users),
        }
    ).encode()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"emails": "notalist"}, "Resources[0].emails", "valid list"),
        ({"emails": ["a@acme.example"]}, "Resources[0].emails[0]", "valid dictionary"),
        ({"name": "Grace"}, "Resources[0].name", "valid dictionary"),
        ({"groups": {"value": "g"}}, "Resources[0].groups", "valid list"),
        ({"active": "maybe"}, "Resources[0].active", "valid boolean"),
        (
            {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "x"}},
            "Resources[0].urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager",
            "valid dictionary",
        ),
    ],
)
def test_scim_list_response_is_validated_by_its_schema(
    change: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput, match=words) as caught:
        parse_directory(scim({**SCIM_USER, **change}), filename="scim.json")
    assert caught.value.field == field
    assert "SCIM ListResponse in scim.json" in caught.value.message


def test_scim_resources_must_be_a_list_of_objects() -> None:
    with pytest.raises(InvalidInput, match="Resources"):
        parse_directory(b'{"Resources": "nope"}', filename="scim.json")
    with pytest.raises(InvalidInput, match=r"Resources\[0\]"):
        parse_directory(b'{"Resources": [7]}', filename="scim.json")


def test_scim_known_attributes_and_extensions_pass() -> None:
    [record] = parse_directory(scim(SCIM_USER), filename="scim.json")
    assert record.email == "grace@acme.example"


@pytest.mark.parametrize(
    ("data", "filename", "where"),
    [
        (b'[{"email": "a@acme.example", "name": "A", "isAdmin": true}]', "p.json", "record 0"),
        (b'{"people": [{"email": "a@acme.example", "name": "A", "isAdmin": 1}]}', "p.json", "0"),
        (b"email,name,isAdmin\na@acme.example,A,true\n", "p.csv", "a CSV column"),
        (scim({**SCIM_USER, "isAdmin": True}), "scim.json", "Resources[0]"),
    ],
)
def test_unknown_fields_in_people_imports_are_refused_or_named(
    data: bytes, filename: str, where: str
) -> None:
    with pytest.raises(InvalidInput, match=r"unknown field\(s\) isAdmin") as caught:
        parse_directory(data, filename=filename)
    assert caught.value.field == "isAdmin"
    assert where in caught.value.message and "--allow-unknown" in caught.value.message
    read = read_directory(data, filename=filename, allow_unknown=True)
    assert len(read.records) == 1
    assert read.unknown == ("isAdmin",)
    assert read.warning(filename) == f"{filename}: ignored unknown field(s) isAdmin"
