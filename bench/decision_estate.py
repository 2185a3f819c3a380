"""A generated estate for the decision benchmark: agents, people, roles, org policy, requests.

Seeded and deterministic, so runs compare. Shapes follow what charters look
like in practice: most rules name an exact action and a resource prefix, some
use action wildcards, some carry conditions or a schedule; a third of agents
accept delegation from a few groups.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

SYSTEMS = [
    "zendesk",
    "slack",
    "github",
    "stripe",
    "ledger",
    "salesforce",
    "jira",
    "confluence",
    "gdrive",
    "s3",
    "snowflake",
    "postgres",
    "hubspot",
    "notion",
    "linear",
    "datadog",
    "pagerduty",
    "okta",
    "workday",
    "netsuite",
    "intercom",
    "gong",
    "figma",
    "asana",
    "box",
    "dropbox",
    "twilio",
    "sendgrid",
    "shopify",
    "aws",
]
OBJECTS = ["tickets", "messages", "pulls", "charges", "entries", "records", "files", "issues"]
VERBS = ["read", "list", "create", "update", "comment", "delete", "export", "approve"]
GROUPS = [f"team-{i:02d}" for i in range(20)]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"]
BASE = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@dataclass
class Estate:
    charters: list[dict[str, Any]]
    people: list[dict[str, Any]]
    roles: dict[str, Any]
    org_policy: dict[str, Any]
    requests: list[tuple[str, str, str, dict[str, Any], str | None]]


def _action(rng: random.Random, system: str) -> str:
    return f"{system}.{rng.choice(OBJECTS)}.{rng.choice(VERBS)}"


def _capability(rng: random.Random, system: str) -> dict[str, Any]:
    obj = rng.choice(OBJECTS)
    shape = rng.random()
    if shape < 0.6:
        capability: dict[str, Any] = {
            "action": f"{system}.{obj}.{rng.choice(VERBS)}",
            "resource": f"{system}:{obj}/*",
        }
    elif shape < 0.85:
        capability = {"action": f"{system}.{obj}.*", "resource": f"{system}:{obj}/*"}
    else:
        capability = {"action": f"{system}.{obj}.{rng.choice(VERBS)}", "resource": f"{system}:*"}
    extra = rng.random()
    if extra < 0.12:
        capability["when"] = [
            {"attribute": "args.amount", "op": "le", "value": rng.choice([100, 500, 1000])}
        ]
    elif extra < 0.18:
        capability["when"] = [{"attribute": "region", "op": "in", "value": REGIONS[:2]}]
    elif extra < 0.21:
        capability["schedule"] = {
            "timezone": "Europe/Berlin",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "06:00",
            "end": "22:00",
        }
    return capability


def generate(
    agents: int = 10_000,
    capabilities: int = 20,
    org_rules: int = 50,
    people: int = 1_000,
    requests: int = 100_000,
    seed: int = 7,
) -> Estate:
    rng = random.Random(seed)
    emails = [f"person{i:05d}@acme.example" for i in range(people)]
    person_records = [
        {
            "email": email,
            "name": f"Person {i}",
            "status": "departed" if rng.random() < 0.03 else "active",
            "groups": rng.sample(GROUPS, rng.randint(1, 3)),
            "external_ids": [f"idp|{i:05d}"],  # how an AuthZEN PEP may name the person
        }
        for i, email in enumerate(emails)
    ]
    charters = []
    for index in range(agents):
        systems = rng.sample(SYSTEMS, 4)
        allow = [_capability(rng, rng.choice(systems)) for _ in range(capabilities - 3)]
        deny = [
            {"action": f"{rng.choice(systems)}.*.delete", "resource": "*"},
            {"action": "*", "resource": f"{rng.choice(systems)}:secrets/*"},
            {
                "action": _action(rng, rng.choice(systems)),
                "resource": "*",
                "when": [{"attribute": "data.classification", "op": "eq", "value": "restricted"}],
            },
        ]
        delegation: dict[str, Any] = {"allowed": False}
        if rng.random() < 0.33:
            delegation = {"allowed": True, "groups": rng.sample(GROUPS, 3)}
        charters.append(
            {
                "name": f"agent-{index:05d}",
                "owner": rng.choice(emails),
                "purpose": "A generated agent for the decision benchmark",
                "allow": allow,
                "deny": deny,
                "delegation": delegation,
                "expires": "2027-12-31",
            }
        )
    roles = {
        "roles": [
            {
                "name": f"role-{group}",
                "groups": [group],
                "allow": [
                    {"action": f"{system}.*", "resource": f"{system}:*"}
                    for system in rng.sample(SYSTEMS, 8)
                ],
            }
            for group in GROUPS
        ]
    }
    deny_rules = [
        {
            "id": "no-iam",
            "description": "No agent changes IAM",
            "action": "aws.iam.*",
            "resource": "aws:*",
        }
    ]
    seen = set()
    index = 0
    while len(deny_rules) < org_rules:
        system = rng.choice(SYSTEMS)
        kind = index % 3
        index += 1
        if kind == 0:
            rule = {
                "action": f"{system}.*.export",
                "resource": f"{system}:*",
                "when": [{"attribute": "destination.region", "op": "not_in", "value": REGIONS[:2]}],
            }
        elif kind == 1:
            rule = {
                "action": f"{system}.{rng.choice(OBJECTS)}.delete",
                "resource": f"{system}:prod/*",
            }
        else:
            rule = {"action": f"*.{rng.choice(VERBS)}", "resource": f"{system}:legal-hold/*"}
        key = (rule["action"], rule["resource"])
        if key in seen:
            continue
        seen.add(key)
        number = len(deny_rules)
        deny_rules.append(
            {"id": f"org-rule-{number:02d}", "description": f"generated rule {number}", **rule}
        )
    request_list: list[tuple[str, str, str, dict[str, Any], str | None]] = []
    for _ in range(requests):
        charter = rng.choice(charters)
        if rng.random() < 0.7:  # something the charter names: mostly allowed
            capability = rng.choice(charter["allow"])
            action = capability["action"].replace("*", rng.choice(VERBS))
            system = action.split(".")[0]
            resource = capability["resource"].replace(
                "*", f"{rng.choice(OBJECTS)}/{rng.randint(1, 99999)}"
            )
            if not resource.startswith(system):
                resource = f"{system}:{rng.choice(OBJECTS)}/{rng.randint(1, 99999)}"
        else:
            system = rng.choice(SYSTEMS)
            action = _action(rng, system)
            resource = f"{system}:{rng.choice(OBJECTS)}/{rng.randint(1, 99999)}"
        context: dict[str, Any] = {
            "args": {"amount": rng.choice([50, 250, 800, 5000])},
            "region": rng.choice(REGIONS),
            "data": {
                "classification": rng.choice(["internal", "internal", "internal", "restricted"])
            },
        }
        on_behalf_of = rng.choice(emails) if rng.random() < 0.2 else None
        request_list.append((charter["name"], action, resource, context, on_behalf_of))
    return Estate(charters, person_records, roles, {"deny": deny_rules}, request_list)
