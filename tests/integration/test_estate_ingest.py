"""The sample estate end to end on SQLite and PostgreSQL: ingest, attribution,
shadow agents, cleanup.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import sqlalchemy as sa
from tests.conftest import EXAMPLES

from charter.connectors import registry
from charter.connectors.base import fingerprint
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.enums import AgentState
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import parse_directory
from charter.store import schema

ESTATE = EXAMPLES / "estate"


def load_estate(services: Services, root: Path = ESTATE) -> None:
    """People, the four example agents (their charters name identities), then every export."""
    people = EXAMPLES / "people.json"
    services.people.import_records(
        parse_directory(people.read_bytes(), filename="people.json"), actor="t"
    )
    for path in sorted((EXAMPLES / "agents").glob("*.yaml")):
        services.registry.register(
            parse_charter_text(path.read_bytes(), source=str(path)), actor="t"
        )
    report = services.estate.ingest.ingest_tree(root, actor="t")
    assert report.ok, report.failures


def identity(services: Services, identity_id: str) -> sa.Row[object]:
    with services.db.read() as connection:
        row = connection.execute(
            sa.select(schema.identities).where(schema.identities.c.id == identity_id)
        ).first()
    assert row is not None, identity_id
    return row


def test_every_source_is_ingested_and_reingest_changes_nothing(
    services: Services, clock: FixedClock
) -> None:
    load_estate(services)
    with services.db.read() as connection:
        sources = dict(
            connection.execute(
                sa.select(schema.identities.c.source, sa.func.count()).group_by(
                    schema.identities.c.source
                )
            ).all()
        )
    assert set(sources) == set(registry.CONNECTORS)  # the sample estate has every source
    assert sum(sources.values()) > 150
    events = services.audit.count()
    clock.advance(days=1)
    again = services.estate.ingest.ingest_tree(ESTATE, actor="t")
    assert again.ok and not any(r.changed for r in again.results)
    assert services.audit.count() == events


def test_registered_agents_are_attributed_with_evidence(services: Services) -> None:
    load_estate(services)
    role = identity(services, "aws:210987654321:role/finance-reconciler")
    assert role.agent == "finance-reconciler"
    attribution = role.properties["attribution"]
    assert attribution["agent"]["confidence"] == 1.0
    assert "named in the charter of finance-reconciler" in attribution["agent"]["evidence"][0]
    pod = identity(services, "k8s:prod-eu-1:finance/serviceaccount/finance-reconciler")
    assert pod.agent == "finance-reconciler"  # linked through its IRSA annotation to the role
    assert (
        "linked (eks.amazonaws.com/role-arn)"
        in pod.properties["attribution"]["agent"]["evidence"][0]
    )
    assert (
        identity(services, "k8s:prod-eu-1:support/serviceaccount/support-summarizer").agent
        == "support-summarizer"
    )
    assert identity(services, "slack:E0ACME01:app/A07SUPDIG01").agent == "support-summarizer"
    assert identity(services, "github:acme:app/acme-code-reviewer").agent == "code-reviewer"
    with services.db.read() as connection:
        pat = connection.execute(
            sa.select(schema.identities).where(schema.identities.c.name == "release-notes-writer")
        ).one()
        pat_credentials = (
            connection.execute(
                sa.select(schema.credentials.c.agent).where(schema.credentials.c.identity == pat.id)
            )
            .scalars()
            .all()
        )
    assert pat.agent == "release-notes-writer"
    assert pat.properties["attribution"]["agent"]["confidence"] == 0.6  # by name only
    assert pat.owner == "tom.keller@acme.example"  # the GitHub login matched the directory
    assert pat.properties["attribution"]["owner"]["departed"] is True
    assert pat_credentials == ["release-notes-writer"]


def test_shadow_agents_are_discovered_with_a_suggested_owner(services: Services) -> None:
    load_estate(services)
    shadows = {a.name: a for a in services.estate.shadow.list()}
    bot = shadows["support-bot"]
    assert {i.name for i in bot.identities} >= {
        "AmazonBedrockExecutionRoleForAgents_SupportBot",
        "order-status-lookup",
    }
    chatgpt = shadows["chatgpt"]
    assert {i.source for i in chatgpt.identities} == {
        "gworkspace",
        "slack",
    }  # one product, two sources
    assert (
        shadows["tom-keller"].suggested_owner == "ada.osei@acme.example"
    )  # manager of the departed owner
    assert shadows["vertex-rag-indexer"].suggested_owner == "lena.fischer@acme.example"
    assert "finance-reconciler" not in shadows
    agent = services.registry.get("support-bot")
    assert agent.state is AgentState.DISCOVERED
    events = services.audit.list(action="agent.discover", target="support-bot")
    assert events and events[-1].after["source"] == "aws"


def test_a_leaked_key_is_one_secret_in_two_places(services: Services) -> None:
    load_estate(services)
    shared = {item["fingerprint"]: item for item in services.estate.map.shared_credentials()}
    legacy = shared[fingerprint("AKIA4EXAMPLELEGACY01")]
    assert {p["source"] for p in legacy["places"]} == {"aws", "k8s"}
    assert legacy["copies"] == 2


def test_a_newer_export_marks_what_disappeared_in_that_cluster_only(
    services: Services, clock: FixedClock, tmp_path: Path
) -> None:
    load_estate(services)
    newer = tmp_path / "k8s"
    shutil.copytree(ESTATE / "k8s", newer)
    export = json.loads((newer / "prod-eu-1.json").read_text())
    export["items"] = [i for i in export["items"] if i["metadata"]["name"] != "ticket-triage-llm"]
    (newer / "prod-eu-1.json").write_text(json.dumps(export))
    clock.advance(days=7)
    report = services.estate.ingest.ingest_files("k8s", [newer], actor="t")
    by_account = {r.account: r for r in report.results}
    assert by_account["prod-eu-1"].identities.gone == 1
    assert (
        by_account["prod-eu-1"].grants.gone == 0
    )  # its RoleBinding is still exported: now dangling
    assert not by_account["ml-us-1"].changed
    assert (
        identity(services, "k8s:prod-eu-1:support/serviceaccount/ticket-triage-llm").gone_at
        is not None
    )
    assert identity(services, "aws:210987654321:role/finance-reconciler").gone_at is None


def test_a_bad_export_in_the_tree_fails_alone_and_leaves_nothing_half_written(
    services: Services, tmp_path: Path
) -> None:
    tree = tmp_path / "estate"
    shutil.copytree(ESTATE, tree)
    apps = (tree / "okta" / "apps.json").read_text()
    (tree / "okta" / "apps.json").write_text(apps[: len(apps) // 2])
    export = json.loads((tree / "k8s" / "prod-eu-1.json").read_text())
    export["items"].append(export["items"][0])  # a duplicated ServiceAccount
    (tree / "k8s" / "prod-eu-1.json").write_text(json.dumps(export))
    services.people.import_records(
        parse_directory((EXAMPLES / "people.json").read_bytes(), filename="people.json"), actor="t"
    )
    report = services.estate.ingest.ingest_tree(tree, actor="t")
    failures = dict(report.failures)
    assert set(failures) == {"okta", "k8s"}
    assert "apps.json: [" in failures["okta"] and "truncated" in failures["okta"]
    assert "appears twice" in failures["k8s"]
    with services.db.read() as connection:
        accounts = set(
            connection.execute(
                sa.select(schema.identities.c.source, schema.identities.c.account).distinct()
            ).all()
        )
    assert ("okta", "acme.okta.com") not in accounts
    assert ("k8s", "prod-eu-1") not in accounts
    assert ("k8s", "ml-us-1") in accounts  # another account: its own transaction
    assert ("aws", "210987654321") in accounts


def test_adopting_a_shadow_agent_keeps_its_history_and_identities(
    services: Services, clock: FixedClock
) -> None:
    """Adopted under a new name (the harder case; the API test adopts one under its own name)."""
    rename = True
    load_estate(services)
    name = "support-bot"
    new_name = "order-support-bot" if rename else name
    charter = parse_charter_text(
        (
            f"name: {new_name}\nowner: li.wei@acme.example\n"
            "purpose: Answer order questions for customers through the Bedrock support agent.\n"
            "allow:\n  - action: orders.read\n    resource: 'dynamodb:orders/*'\n"
        ).encode(),
        source="charter.yaml",
    )
    adopted = services.estate.shadow.adopt(name, charter, actor="t")
    assert adopted.state is AgentState.PROPOSED and adopted.previous_name == name
    assert (
        "aws:210987654321:role/service-role/AmazonBedrockExecutionRoleForAgents_SupportBot"
        in adopted.identities
    )
    history = services.registry.history(new_name)
    assert [v.version for v in history] == [1, 2]  # the discovered charter is kept as v1
    assert history[0].document["environment"] == "unknown"
    assert name not in {a.name for a in services.estate.shadow.list()}
    clock.advance(days=1)
    services.estate.ingest.ingest_tree(ESTATE, actor="t")
    role = identity(
        services,
        "aws:210987654321:role/service-role/AmazonBedrockExecutionRoleForAgents_SupportBot",
    )
    assert role.agent == new_name
    assert role.properties["attribution"]["agent"]["confidence"] == 1.0
    assert name not in {a.name for a in services.estate.shadow.list()}  # not rediscovered
    actions = [e.action for e in services.audit.list(target=new_name, newest_first=False)]
    assert "agent.adopt" in actions
    if rename:
        assert next(e.action for e in services.audit.list(target=name)) == "agent.rename"
