"""The compiled index finds exactly what a scan would; the Cedar export is valid Cedar."""

from __future__ import annotations

import json
import random

import cedarpy
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.decisions.estate import MONDAY_US, agent, estate

from charter.domain.cedar_export import cedar_string, export_cedar, like_pattern
from charter.domain.charter import Capability
from charter.domain.compiled import MEMO_LIMIT, Rule, RuleIndex, RuleKind
from charter.domain.patterns import parse_pattern

SEGMENTS = ["a", "b", "tickets", "read", "x.y", ""]
patterns = (
    st.lists(st.sampled_from([*SEGMENTS, "*", "."]), min_size=1, max_size=6)
    .map("".join)
    .filter(lambda p: p.count("*") <= 8 and p != "")
)
actions = st.lists(st.sampled_from(["a", "b", "tickets", "read", "."]), min_size=1, max_size=6).map(
    "".join
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=12), st.lists(actions, min_size=1, max_size=10))
def test_index_candidates_equal_a_full_scan(texts: list[str], probes: list[str]) -> None:
    rules = [Rule(Capability(action=t), f"r{i}", RuleKind.ALLOW, i) for i, t in enumerate(texts)]
    index = RuleIndex(rules)
    for action in probes + texts:
        expected = [r.id for r in rules if r.action.matches(action)]
        assert [r.id for r in index.candidates(action)] == expected, action


def test_memo_is_bounded() -> None:
    index = RuleIndex([Rule(Capability(action="*.read"), "r0", RuleKind.ALLOW, 0)])
    for number in range(MEMO_LIMIT + 10):
        index.candidates(f"x{number}.read")
    assert len(index.memo) <= MEMO_LIMIT


def test_cedar_literals_escape_what_they_must() -> None:
    assert cedar_string('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert like_pattern(parse_pattern("a\\*b*c")) == '"a\\*b*c"'
    assert like_pattern(parse_pattern('q"*')) == '"q\\"*"'


def test_export_validates_against_its_schema_and_decides_like_us() -> None:
    snapshot = estate(
        agent(
            {
                "name": "alpha",
                "allow": [
                    {
                        "action": "tickets.*",
                        "resource": "zendesk:*",
                        "when": [
                            {"attribute": "args.amount", "op": "le", "value": 10.5},
                            {"attribute": "ip", "op": "cidr", "value": "10.0.0.0/8"},
                        ],
                        "schedule": {
                            "timezone": "Europe/Berlin",
                            "days": ["mon"],
                            "start": "08:00",
                            "end": "18:00",
                        },
                    },
                ],
                "deny": [{"action": "tickets.delete"}],
                "delegation": {"allowed": True, "groups": ["support"]},
                "expires": "2027-01-01",
            }
        ),
    )
    export = export_cedar(snapshot)
    assert cedarpy.validate_policies(export.policies, export.schema).validation_passed
    policies = cedarpy.PolicySet.from_str(export.policies)
    entities = cedarpy.Entities.from_json_str(json.dumps(export.entities))
    from charter.domain.evaluation import evaluate

    rng = random.Random(3)
    for _ in range(40):
        context = {
            "args": {"amount": rng.choice([1, 10.5, 11, "1"])},
            "ip": rng.choice(["10.1.1.1", "8.8.8.8"]),
        }
        action = rng.choice(["tickets.read", "tickets.delete", "iam.put"])
        person = rng.choice([None, "maria@acme.example", "tom@acme.example"])
        ours = evaluate(snapshot, "alpha", action, "zendesk:t/1", context, person, MONDAY_US)
        theirs = cedarpy.is_authorized(
            export.request("alpha", action, "zendesk:t/1", context, person, MONDAY_US),
            policies,
            entities,
        )
        assert ours.allowed == theirs.allowed and not theirs.diagnostics.errors
