"""Org policy and roles files, the AuthZEN mapping, stored charters."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.server import ROOT

from charter.api.authzen import BadRequest, decision_context, parse_tuple
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.decision import Decision, Reason, ReasonCode
from charter.domain.org_policy import parse_org_policy_text
from charter.domain.roles import parse_roles_text
from charter.domain.stored_charter import stored_charter
from charter.errors import Conflict, InvalidInput

AGENT = {"type": "agent", "id": "bot"}
ACTION = {"name": "tickets.read"}
RESOURCE = {"type": "zendesk", "id": "tickets/1"}


def test_example_files_parse() -> None:
    policy = parse_org_policy_text((ROOT / "examples/policy/org-policy.yaml").read_text())
    assert policy.deny[0].rule_id == "org/no-iam-changes"
    roles = parse_roles_text((ROOT / "examples/policy/roles.yaml").read_text())
    assert [r.name for r in roles.roles_for(["support"])] == ["support-agent"]
    assert roles.capabilities_for(["finance"])[0][0] == "role/finance-analyst/allow/0"


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("deny: [{id: a, description: one, action: 'x \\\\q'}]", InvalidInput, "deny[0].action"),
        ("deny: [{id: A!, description: one}]", InvalidInput, "deny[0].id"),
        ("allow: []", InvalidInput, "unknown field"),
        (
            "deny: [{id: a, description: x.1, action: a}, {id: a, description: x.2, action: b}]",
            Conflict,
            "ids must be unique",
        ),
        (
            "deny: [{id: a, description: two values, action: a, when: [{attribute: r, op: eq, "
            "value: x}, {attribute: r, op: eq, value: y}]}]",
            Conflict,
            "cannot equal both",
        ),
        (
            "deny: [{id: a, description: eq and in, action: a, when: [{attribute: r, op: eq, "
            "value: x}, {attribute: r, op: in, value: [y]}]}]",
            Conflict,
            "be one of",
        ),
        ("x: &x {id: a}\ndeny: [*x]", InvalidInput, "aliases"),
    ],
)
def test_bad_org_policies_are_refused_naming_the_field(
    text: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_org_policy_text(text)


def test_roles_need_groups_and_rules() -> None:
    with pytest.raises(InvalidInput, match="groups"):
        parse_roles_text("roles: [{name: r, groups: [], allow: [{action: a}]}]")
    with pytest.raises(InvalidInput, match="allow"):
        parse_roles_text("roles: [{name: r, groups: [g], allow: []}]")


def test_authzen_tuple_mapping() -> None:
    subject = {**AGENT, "properties": {"on_behalf_of": "Maria@acme.example", "team": "x"}}
    action = {**ACTION, "properties": {"args": 1}}
    kind, agent, name, resource, context, person = parse_tuple(subject, action, RESOURCE, {"k": 1})
    assert (kind, agent, name, resource, person) == (
        "agent",
        "bot",
        "tickets.read",
        "zendesk:tickets/1",
        "Maria@acme.example",
    )
    props = subject["properties"]
    assert context == {
        "k": 1,
        "subject": {**props, "properties": props, "id": "bot", "type": "agent"},
        "action": {"args": 1, "properties": {"args": 1}, "name": "tickets.read"},
        "resource": {"properties": {}, "type": "zendesk", "id": "tickets/1"},
        "context": {"k": 1},
    }
    bare = parse_tuple(AGENT, ACTION, RESOURCE, None)[4]
    assert bare["resource"]["id"] == "tickets/1" and bare["context"] == {}
    keep = parse_tuple(AGENT, action, RESOURCE, {"action": "mine"})[4]
    assert keep["action"] == "mine"  # the caller's own key wins


def test_authzen_any_subject_type_and_an_optional_resource_id() -> None:
    person = {"type": "identity", "id": "CiRmZDA2", "properties": {"team": "x"}}
    kind, subject, _, resource, context, _ = parse_tuple(person, ACTION, {"type": "route"}, None)
    assert (kind, subject, resource) == ("identity", "CiRmZDA2", "route:")
    assert "id" not in context["resource"]
    assert context["subject"]["properties"] == {"team": "x"}


@pytest.mark.parametrize(
    ("subject", "action", "resource", "context", "status", "words"),
    [
        (None, ACTION, RESOURCE, None, 400, "subject is required"),
        ([], ACTION, RESOURCE, None, 400, "subject must be a JSON object"),
        ({"type": "", "id": "u"}, ACTION, RESOURCE, None, 400, "subject.type"),
        ({"type": 5, "id": "u"}, ACTION, RESOURCE, None, 400, "subject.type"),
        ({"type": "agent", "id": ""}, ACTION, RESOURCE, None, 400, "subject.id"),
        (AGENT, {"name": "x" * 300}, RESOURCE, None, 413, "action.name"),
        (AGENT, ACTION, {"type": "z", "id": 7}, None, 400, "resource.id"),
        (AGENT, ACTION, {"type": "z", "properties": []}, None, 400, "resource.properties"),
        (AGENT, ACTION, RESOURCE, [1], 400, "context must be a JSON object"),
        (AGENT, ACTION, RESOURCE, {"x": "y" * 70_000}, 413, "context is larger"),
        ({**AGENT, "properties": {"on_behalf_of": 7}}, ACTION, RESOURCE, None, 400, "on_behalf_of"),
    ],
)
def test_authzen_bad_tuples(
    subject: Any, action: Any, resource: Any, context: Any, status: int, words: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_tuple(subject, action, resource, context)
    assert caught.value.status == status and words in caught.value.message


def test_authzen_context_of_a_deny_lists_every_reason() -> None:
    decision = Decision(
        False,
        reasons=(
            Reason(ReasonCode.EXPLICITLY_DENIED, "no", "charter/a/deny/0"),
            Reason(ReasonCode.CONDITION_FAILED, "too much", "charter/a/allow/1", "args.amount"),
        ),
    )
    context = decision_context(decision)
    assert context["reason_codes"] == ["explicitly_denied", "condition_failed:args.amount"]
    assert context["reasons"][1] == {
        "id": "1",
        "code": "condition_failed:args.amount",
        "rule": "charter/a/allow/1",
        "reason_admin": {"en": "too much"},
    }
    with pytest.raises(TypeError):
        bool(decision)


def test_stored_charters_round_trip_without_revalidation() -> None:
    for path in sorted((ROOT / "examples" / "agents").glob("*.yaml")):
        spec = parse_charter_text(path.read_text())
        assert stored_charter(spec.document()) == spec, path.name
    with pytest.raises(Exception, match="owner"):
        stored_charter(
            {"name": "only-a-name", "purpose": "p"}
        )  # unreadable: full validation says why
