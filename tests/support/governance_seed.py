"""A small estate for governance tests: people, agents, identities, credentials, activity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from charter.domain.batch import Batch
from charter.domain.charter_parsing import parse_charter
from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.domain.lifecycle import Transition
from charter.services.context import Services
from charter.services.people import PersonRecord
from charter.store import schema

ACCOUNT = "111122223333"
LEAKED_KEY = "AKIAEXAMPLELEAKED01"
FP_LEAKED = "a" * 64

PEOPLE = [
    PersonRecord(email="ada@acme.example", name="Ada", manager="sam@acme.example"),
    PersonRecord(email="sam@acme.example", name="Sam"),
    PersonRecord(
        email="tom@acme.example", name="Tom", status="departed", manager="ada@acme.example"
    ),
]

SUMMARIZER = {
    "name": "summarizer",
    "owner": "ada@acme.example",
    "purpose": "summarise support tickets and post a daily digest",
    "allow": [
        {"action": "tickets.*", "resource": "zendesk:tickets/*"},
        {"action": "slack.post_message", "resource": "slack:channels/digest"},
        {"action": "crm.read", "resource": "salesforce:*"},
    ],
    "deny": [{"action": "tickets.delete", "resource": "*"}],
    "expires": "2027-06-30",
    "identities": [f"arn:aws:iam::{ACCOUNT}:user/etl"],
}
TOMS = {
    "name": "release-notes",
    "owner": "tom@acme.example",
    "purpose": "draft release notes from merged pull requests",
    "allow": [{"action": "github.pulls.read", "resource": "github:acme/*"}],
}


def register(services: Services, document: dict[str, Any], *, activate: bool = True) -> None:
    services.registry.register(parse_charter(document), actor="test")
    if activate:
        services.registry.transition(
            document["name"], Transition.ACTIVATE, actor="test", reason="approved"
        )


def seed_people_and_agents(services: Services) -> None:
    services.people.import_records(PEOPLE, actor="test")
    register(services, SUMMARIZER)
    # registered while tom was still here, then tom left
    services.people.import_records(
        [PersonRecord(email="tom@acme.example", name="Tom", manager="ada@acme.example")],
        actor="test",
    )
    register(services, TOMS)
    services.people.import_records(PEOPLE, actor="test")


def aws_batch(now: dt.datetime, *, with_old_key: bool = True, key_age_days: int = 400) -> Batch:
    old = now - dt.timedelta(days=key_age_days)
    identities = [
        Identity(
            id=f"aws:{ACCOUNT}:user/etl",
            source="aws",
            account=ACCOUNT,
            kind=IdentityKind.CLOUD_USER,
            name="etl",
            system=f"aws:{ACCOUNT}",
            native_id=f"arn:aws:iam::{ACCOUNT}:user/etl",
            owner="ada@acme.example",
            created_at=old,
            last_used_at=now - dt.timedelta(days=1),
        ),
        Identity(
            id=f"aws:{ACCOUNT}:role/clean",
            source="aws",
            account=ACCOUNT,
            kind=IdentityKind.CLOUD_ROLE,
            name="clean",
            system=f"aws:{ACCOUNT}",
            native_id=f"arn:aws:iam::{ACCOUNT}:role/clean",
            owner="ada@acme.example",
            created_at=old,
            last_used_at=now - dt.timedelta(days=2),
        ),
    ]
    credentials = []
    if with_old_key:
        credentials.append(
            Credential(
                id=f"aws:{ACCOUNT}:access-key/{LEAKED_KEY}",
                source="aws",
                account=ACCOUNT,
                kind=CredentialKind.ACCESS_KEY,
                provider="aws",
                fingerprint=FP_LEAKED,
                preview="AKIA…ED01",
                identity=f"aws:{ACCOUNT}:user/etl",
                created_at=old,
                last_rotated_at=old,
                last_used_at=now - dt.timedelta(days=1),
                location="aws iam user etl",
                properties={"active": True, "key_id": LEAKED_KEY},
            )
        )
    grants = [
        Grant(
            id=f"aws:{ACCOUNT}:user/etl#grant/s3",
            source="aws",
            account=ACCOUNT,
            subject_type="identity",
            subject=f"aws:{ACCOUNT}:user/etl",
            system=f"aws:{ACCOUNT}",
            resource="arn:aws:s3:::reports/*",
            permissions=("s3:GetObject",),
            reason="user etl may read reports",
        ),
    ]
    return Batch(
        "aws",
        ACCOUNT,
        systems=[System(f"aws:{ACCOUNT}", "aws", "AWS prod")],
        identities=identities,
        credentials=credentials,
        grants=grants,
    )


def fs_batch(*, leaked: bool = True) -> Batch:
    credentials = []
    if leaked:
        credentials.append(
            Credential(
                id="fs:/repo:credential/leak",
                source="fs",
                account="/repo",
                kind=CredentialKind.ACCESS_KEY,
                provider="aws",
                fingerprint=FP_LEAKED,
                preview="AKIA…ED01",
                location="deploy/.env:3",
                properties={"locations": ["deploy/.env:3"], "in_history_only": False},
            )
        )
    return Batch(
        "fs", "/repo", systems=[System("fs:/repo", "filesystem", "/repo")], credentials=credentials
    )


def add_activity(services: Services, rows: Iterable[dict[str, Any]]) -> None:
    """Insert activity rows as the decision point or a log ingest would."""
    values = []
    for row in rows:
        values.append(
            {
                "identity": None,
                "on_behalf_of": None,
                "allowed": True,
                "reasons": [],
                "source": "sdk",
                "latency_us": None,
                "context": None,
                **row,
            }
        )
    with services.db.write() as connection:
        connection.execute(sa.insert(schema.activities), values)


def uses(
    agent: str,
    action: str,
    resource: str,
    when: dt.datetime,
    *,
    n: int = 1,
    allowed: bool | None = True,
    source: str = "sdk",
) -> list[dict[str, Any]]:
    return [
        {
            "time": when,
            "agent": agent,
            "action": action,
            "resource": resource,
            "allowed": allowed,
            "source": source,
        }
        for _ in range(n)
    ]
