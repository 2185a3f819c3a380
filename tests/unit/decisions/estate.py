"""Small estates built in memory for decision tests (no store)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from charter.domain.agent import Agent
from charter.domain.charter_parsing import parse_charter
from charter.domain.compiled import Snapshot, build_snapshot
from charter.domain.conditions import epoch_micros
from charter.domain.enums import AgentState, PersonStatus
from charter.domain.org_policy import parse_org_policy
from charter.domain.people import Person
from charter.domain.roles import parse_roles

#: Monday 2 November 2026, 10:00 UTC (11:00 in Berlin)
MONDAY = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
MONDAY_US = epoch_micros(MONDAY)


def agent(document: dict[str, Any], state: AgentState = AgentState.ACTIVE) -> Agent:
    base = {"owner": "owner@acme.example", "purpose": "A test agent with a purpose"}
    spec = parse_charter({**base, **document})
    return Agent(spec.name, spec.owner, state, spec, 1, MONDAY, MONDAY)


PEOPLE = [
    Person("maria@acme.example", "Maria", groups=("support",)),
    Person("priya@acme.example", "Priya", groups=("finance",)),
    Person("tom@acme.example", "Tom", PersonStatus.DEPARTED, groups=("support",)),
]

ROLES = parse_roles(
    {
        "roles": [
            {
                "name": "support-staff",
                "groups": ["support"],
                "allow": [{"action": "tickets.*", "resource": "zendesk:*"}],
            }
        ]
    }
)

ORG = parse_org_policy(
    {
        "deny": [
            {
                "id": "no-iam",
                "description": "No IAM changes",
                "action": "iam.*",
                "resource": "aws:*",
            },
            {
                "id": "eu-only",
                "description": "Nothing leaves the EU",
                "action": "*.export",
                "when": [{"attribute": "region", "op": "not_in", "value": ["eu-west-1"]}],
            },
        ]
    }
)


def estate(*agents: Agent, org: bool = True, roles: bool = True) -> Snapshot:
    return build_snapshot(
        agents, PEOPLE, ORG if org else parse_org_policy({}), ROLES if roles else parse_roles({})
    )
