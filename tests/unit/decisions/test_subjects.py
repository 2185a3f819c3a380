"""Every AuthZEN subject: agents, people by e-mail or external id, the subject type mapping,
people decided by their roles, and conditions that compare two attributes."""

from __future__ import annotations

import pytest

from charter.domain.charter import Condition
from charter.domain.compiled import build_snapshot
from charter.domain.conditions import compile_condition
from charter.domain.decision import ReasonCode
from charter.domain.enums import PersonStatus
from charter.domain.org_policy import parse_org_policy
from charter.domain.people import Person
from charter.domain.person_decisions import evaluate_person, person_context
from charter.domain.roles import parse_roles
from charter.domain.subjects import SubjectKind, resolve_subject
from charter.errors import InvalidInput

OWNER = {"attribute": "resource.properties.ownerID", "op": "eq"}
SAME_OWNER = {**OWNER, "value": {"attribute": "subject.properties.email"}}
ROLES = parse_roles(
    {
        "roles": [
            {
                "name": "editor",
                "groups": ["editor"],
                "allow": [
                    {"action": "todo.create", "resource": "todo:*"},
                    {"action": "todo.update", "resource": "todo:*", "when": [SAME_OWNER]},
                ],
            }
        ]
    }
)
PEOPLE = [
    Person("morty@c.example", "Morty", groups=("editor",), external_ids=("CiRmZDE2",)),
    Person("beth@c.example", "Beth", groups=("viewer",), external_ids=("shared",)),
    Person("jerry@c.example", "Jerry", PersonStatus.DEPARTED, groups=("editor",)),
    Person("summer@c.example", "Summer", groups=("editor",), external_ids=("shared",)),
]
POLICY = parse_org_policy(
    {
        "subjects": {"employee": "person"},
        "deny": [{"id": "no-purge", "description": "nobody purges", "action": "todo.purge"}],
    }
)
SNAPSHOT = build_snapshot([], PEOPLE, POLICY, ROLES)


def decide(subject_type: str, subject_id: str, action: str, owner: str | None = None) -> object:
    subject = resolve_subject(SNAPSHOT, subject_type, subject_id)
    context = {"resource": {"properties": {"ownerID": owner}}} if owner else {}
    return evaluate_person(SNAPSHOT, subject, action, "todo:t1", context, 0)


@pytest.mark.parametrize(
    ("subject_type", "subject_id", "email"),
    [
        ("user", "CiRmZDE2", "morty@c.example"),  # an external id, exactly
        ("identity", "MORTY@c.example", "morty@c.example"),  # an e-mail, any case
        ("employee", "morty@c.example", "morty@c.example"),  # a type the policy maps
    ],
)
def test_people_are_found_by_email_or_external_id(
    subject_type: str, subject_id: str, email: str
) -> None:
    subject = resolve_subject(SNAPSHOT, subject_type, subject_id)
    assert (subject.kind, subject.key, subject.reason) == (SubjectKind.PERSON, email, None)
    assert subject.principal == f"person:{email}"


@pytest.mark.parametrize(
    ("subject_type", "subject_id", "code", "words"),
    [
        ("user", "cirmzde2", ReasonCode.UNKNOWN_SUBJECT, "'cirmzde2'"),  # ids are exact
        ("user", "shared", ReasonCode.UNKNOWN_SUBJECT, "two people carry it"),
        ("robot", "r2", ReasonCode.UNKNOWN_SUBJECT_TYPE, "employee"),
        ("agent", "ghost", ReasonCode.UNKNOWN_AGENT, "ghost"),
    ],
)
def test_an_unresolved_subject_carries_the_reason_it_is_denied(
    subject_type: str, subject_id: str, code: ReasonCode, words: str
) -> None:
    subject = resolve_subject(SNAPSHOT, subject_type, subject_id)
    assert subject.key is None and subject.reason is not None
    assert subject.reason.code == code and words in subject.reason.message
    if subject.kind is not SubjectKind.AGENT:
        decision = evaluate_person(SNAPSHOT, subject, "todo.create", "todo:t1", {}, 0)
        assert not decision.allowed and decision.codes == [code.value]


def test_a_person_gets_what_their_roles_allow_and_owner_conditions_compare_attributes() -> None:
    assert decide("user", "CiRmZDE2", "todo.create").allowed
    own = decide("user", "CiRmZDE2", "todo.update", owner="morty@c.example")
    assert own.allowed and own.rule == "role/editor/allow/1"
    other = decide("user", "CiRmZDE2", "todo.update", owner="rick@c.example")
    assert not other.allowed
    assert other.codes == ["no_role_allows", "condition_failed:resource.properties.ownerID"]
    why = other.reasons[1].message
    assert "'rick@c.example'" in why and "subject.properties.email is 'morty@c.example'" in why
    missing = decide("user", "CiRmZDE2", "todo.update")  # no ownerID: fails closed
    assert not missing.allowed
    assert "resource.properties.ownerID is missing" in missing.reasons[1].message


def test_departed_people_roles_they_lack_and_org_policy_deny() -> None:
    departed = decide("user", "jerry@c.example", "todo.create")
    assert not departed.allowed and departed.codes == ["person_departed"]
    viewer = decide("user", "beth@c.example", "todo.create")
    assert viewer.codes == ["no_role_allows"] and "groups: viewer" in viewer.reasons[0].message
    purge = decide("user", "CiRmZDE2", "todo.purge")
    assert purge.codes == ["org_policy_denied", "no_role_allows"]


def test_the_directory_wins_over_what_the_pep_says_about_the_subject() -> None:
    subject = resolve_subject(SNAPSHOT, "user", "CiRmZDE2")
    sent = {"subject": {"properties": {"email": "rick@c.example", "team": "x"}}}
    context = person_context(sent, subject)
    assert context["subject"]["properties"]["email"] == "morty@c.example"
    assert context["subject"]["properties"]["team"] == "x"
    assert (context["subject"]["id"], context["subject"]["type"]) == ("CiRmZDE2", "user")
    forged = {
        "subject": {"properties": {"email": "rick@c.example"}},
        "resource": {"properties": {"ownerID": "rick@c.example"}},
    }
    assert not evaluate_person(SNAPSHOT, subject, "todo.update", "todo:t1", forged, 0).allowed


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("eq", "a", "a", True),
        ("eq", "a", "b", False),
        ("eq", 5, "5", False),  # types are strict
        ("ne", 5, "5", True),
        ("ne", "a", "a", False),
        ("eq", 1, 1.0, True),
        ("lt", 1, 2, True),
        ("lt", 2, 2, False),
        ("le", 2, 2, True),
        ("gt", 3, 2, True),
        ("ge", 1, 2, False),
        ("lt", "a", "b", None),  # an ordering needs numbers
        ("eq", None, "a", None),  # null is missing
        ("eq", "a", [1], None),  # a list is missing
    ],
)
def test_attribute_references_compare_both_sides(
    op: str, left: object, right: object, expected: bool | None
) -> None:
    condition = compile_condition(
        Condition.model_validate({"attribute": "x.a", "op": op, "value": {"attribute": "y.b"}})
    )
    assert condition.test({"x": {"a": left}, "y": {"b": right}}) is expected
    assert condition.test({"x": {"a": left}}) is None  # the reference is missing
    assert condition.test({"y": {"b": right}}) is None  # the attribute is missing
    assert condition.describe() == f"x.a {op} y.b"


@pytest.mark.parametrize("op", ["in", "not_in", "prefix", "cidr"])
def test_operators_that_need_a_literal_refuse_a_reference(op: str) -> None:
    with pytest.raises(InvalidInput, match="needs a literal value"):
        parse_roles(
            {
                "roles": [
                    {
                        "name": "r",
                        "groups": ["g"],
                        "allow": [
                            {
                                "action": "a",
                                "when": [{"attribute": "x", "op": op, "value": {"attribute": "y"}}],
                            }
                        ],
                    }
                ]
            }
        )


def test_a_subject_type_must_be_a_plain_name() -> None:
    with pytest.raises(InvalidInput, match="subject type"):
        parse_org_policy({"subjects": {"bad type": "person"}})
    with pytest.raises(InvalidInput):
        parse_org_policy({"subjects": {"bot": "robot"}})


def test_directory_imports_carry_external_ids() -> None:
    from charter.services.people import parse_directory

    scim = (
        b'{"Resources": [{"id": "2819c223", "externalId": "CiRmZDA2", "userName": "rick",'
        b' "emails": [{"value": "Rick@the-citadel.com", "primary": true}]}]}'
    )
    (record,) = parse_directory(scim, filename="scim.json")
    assert (record.email, record.external_ids) == (
        "rick@the-citadel.com",
        ["CiRmZDA2", "2819c223", "rick"],
    )
    csv = b"email,name,groups,external_ids\nm@c.example,Morty,editor,CiRmZDE2; m-okta\n"
    (row,) = parse_directory(csv, filename="people.csv")
    assert row.external_ids == ["CiRmZDE2", "m-okta"]
    with pytest.raises(InvalidInput, match="external id"):
        parse_directory(
            b'[{"email": "a@b.example", "name": "A", "external_ids": [""]}]', filename="p.json"
        )
