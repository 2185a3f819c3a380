"""The map over the sample estate: blast radius, who can reach, shared secrets, exports;
the API and the CLI.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.integration.test_estate_ingest import ESTATE, load_estate
from tests.support.server import ROOT
from typer.testing import CliRunner, Result

from charter.api import estate as estate_api
from charter.cli.main import app
from charter.cli.runtime import get_services
from charter.connectors import registry
from charter.connectors.base import fingerprint
from charter.errors import InvalidInput, NotFound
from charter.http.problems import install_problem_handlers
from charter.services.context import Services
from charter.services.map import EdgeKind, NodeKind, Risk, render_graphml, render_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_blast_radius_of_an_agent_follows_credentials_grants_and_links(services: Services) -> None:
    load_estate(services)
    started = time.perf_counter()
    reach = services.estate.map.blast_radius(agent="finance-reconciler")
    elapsed = time.perf_counter() - started
    graph = reach.graph
    assert graph.nodes["finance-reconciler"].kind is NodeKind.AGENT
    acts_as = {
        e.target
        for e in graph.edges
        if e.source == "finance-reconciler" and e.kind is EdgeKind.ACTS_AS
    }
    assert {
        "aws:210987654321:role/finance-reconciler",
        "k8s:prod-eu-1:finance/serviceaccount/finance-reconciler",
    } <= acts_as
    secrets = [p for p in reach.paths if p["resource"].startswith("arn:aws:secretsmanager")]
    assert secrets and secrets[0]["permissions"] == ["secretsmanager:GetSecretValue"]
    assert "inline policy ledger-exports" in secrets[0]["reason"]
    irsa = next(p for p in reach.paths if p["permissions"] == ["sts:AssumeRoleWithWebIdentity"])
    assert "IRSA annotation" in irsa["reason"]
    assert all(e.reason for e in graph.edges), "every edge says why"
    assert elapsed < 1.0


def test_blast_radius_crosses_an_assumed_role(sqlite_services: Services) -> None:
    load_estate(sqlite_services)
    reach = sqlite_services.estate.map.blast_radius(
        identity="k8s:prod-eu-1:kube-system/serviceaccount/aws-load-balancer-controller"
    )
    admin = [p for p in reach.paths if p["admin"]]
    assert admin and admin[0]["through"] == "aws:210987654321:role/deploy" and admin[0]["hop"] == 1
    assert (
        admin[0]["from"] == "k8s:prod-eu-1:kube-system/serviceaccount/aws-load-balancer-controller"
    )
    assert reach.graph.nodes["aws:210987654321:role/deploy"].risk is Risk.HIGH


def test_one_secret_in_two_places_is_an_edge(sqlite_services: Services) -> None:
    load_estate(sqlite_services)
    reach = sqlite_services.estate.map.blast_radius(identity="aws:210987654321:user/legacy-batch")
    same = [e for e in reach.graph.edges if e.kind is EdgeKind.SAME_SECRET]
    assert (
        len(same) == 1
        and "k8s:prod-eu-1:shop/secret/aws-legacy-creds" in same[0].target + same[0].source
    )
    copy = reach.graph.nodes["k8s:prod-eu-1:shop/secret/aws-legacy-creds#AWS_ACCESS_KEY_ID"]
    assert copy.risk is Risk.HIGH and any("2 places" in r for r in copy.reasons)


def test_who_can_reach_a_resource(services: Services) -> None:
    load_estate(services)
    reach = services.estate.map.who_can_reach(
        "aws:210987654321", resource="arn:aws:s3:::acme-support-backups/2026/11/dump.tgz"
    )
    subjects = {p["subject"] for p in reach.paths}
    assert "aws:210987654321:user/support-backup" in subjects
    assert (
        "aws:210987654321:user/github-actions-deploy" in subjects
    )  # AdministratorAccess covers it
    assert "aws:210987654321:role/orders-api-task" not in subjects
    backup = next(p for p in reach.paths if p["subject"].endswith("user/support-backup"))
    assert "s3:GetObject" in backup["permissions"] and backup["reason"]
    with pytest.raises(NotFound):
        services.estate.map.who_can_reach("aws:000000000000")


def test_exports_are_well_formed_json_graphml_and_svg(sqlite_services: Services) -> None:
    load_estate(sqlite_services)
    graph = sqlite_services.estate.map.overview()
    agents = [n for n in graph.nodes.values() if n.kind is NodeKind.AGENT]
    assert {"support-summarizer", "support-bot"} <= {a.id for a in agents}
    as_json = json.loads(json.dumps(graph.to_json()))
    assert all(e["reason"] for e in as_json["edges"])
    graphml = ET.fromstring(render_graphml(graph))  # noqa: S314 - our own output
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    assert len(graphml.findall(f"{ns}graph/{ns}node")) == len(graph.nodes)
    assert len(graphml.findall(f"{ns}graph/{ns}edge")) == len(graph.edges)
    svg = ET.fromstring(render_svg(graph, title="Acme"))  # noqa: S314 - our own output
    assert svg.tag == f"{SVG}svg"
    texts = "".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert "support-summarizer" in texts and "Acme" in texts
    tips = [t.text or "" for t in svg.iter(f"{SVG}title")]
    assert any("IRSA annotation" in t or "named in the charter" in t for t in tips)
    assert any(r.get("stroke-dasharray") for r in svg.iter(f"{SVG}rect")), (
        "shadow agents are dashed"
    )


def test_bad_queries_are_refused_by_field(sqlite_services: Services) -> None:
    with pytest.raises(InvalidInput) as caught:
        sqlite_services.estate.map.blast_radius()
    assert caught.value.field == "agent"
    with pytest.raises(NotFound):
        sqlite_services.estate.map.blast_radius(agent="nobody")


@pytest.fixture
def client(sqlite_services: Services) -> TestClient:
    load_estate(sqlite_services)
    app = FastAPI()
    install_problem_handlers(app)
    app.state.services = sqlite_services
    app.include_router(estate_api.router)
    return TestClient(app)


def test_api_lists_and_maps(client: TestClient) -> None:
    page = client.get("/v1/identities", params={"source": "k8s", "limit": 5}).json()
    assert page["total"] == 25 and len(page["items"]) == 5
    detail = client.get("/v1/identities/aws:210987654321:user/support-backup").json()
    assert detail["identity"]["owner"] == "noah.smith@acme.example"
    assert detail["credentials"][0]["fingerprint"] == fingerprint("AKIAFAKEDEMOOMDAO2FM")
    assert "secret" not in json.dumps(detail["credentials"]).lower().replace("secretsmanager", "")
    creds = client.get("/v1/credentials", params={"agent": "support-summarizer"}).json()
    assert creds["total"] >= 2
    radius = client.get("/v1/map/agents/finance-reconciler").json()
    assert radius["reach"] and all(e["reason"] for e in radius["edges"])
    reach = client.get("/v1/map/systems/aws:345678901234").json()
    assert any(p["subject"].endswith("SageMakerExecutionRole-forecasting") for p in reach["reach"])
    shared = client.get("/v1/map/shared").json()
    assert any(item["copies"] == 2 for item in shared)
    svg = client.get("/v1/map/graph", params={"format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    assert client.get("/v1/map/graph", params={"format": "graphml"}).text.startswith("<?xml")
    shadows = client.get("/v1/shadow").json()
    assert "support-bot" in {s["name"] for s in shadows}


def test_api_adopts_and_answers_problems(client: TestClient) -> None:
    missing = client.get("/v1/identities/aws:1:role/none")
    assert missing.status_code == 404 and missing.json()["field"] == "id"
    body = {
        "name": "vllm-server",
        "owner": "lena.fischer@acme.example",
        "purpose": "Serve open-weight models for the RAG pipeline in the ML cluster.",
    }
    adopted = client.post("/v1/shadow/vllm-server/adopt", json=body)
    assert adopted.status_code == 200, adopted.text
    assert adopted.json()["state"] == "proposed"
    again = client.post("/v1/shadow/vllm-server/adopt", json=body)
    assert again.status_code == 409
    unowned = client.post(
        "/v1/shadow/support-bot/adopt",
        json={**body, "name": "support-bot", "owner": "unowned@charter.example"},
    )
    assert unowned.status_code == 422 and unowned.json()["field"] == "owner"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """The CLI in-process (one store per test), as ``charter …`` would run it."""
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_services.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    yield run
    get_services().close()
    get_services.cache_clear()


def test_discover_all_classifies_each_file_once(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress bar is sized from the ingest's own plan, not from a walk of its own."""
    seen: list[Path] = []
    classify = registry.classify

    def counting(path: Path) -> Any:
        seen.append(path)
        return classify(path)

    monkeypatch.setattr(registry, "classify", counting)
    result = cli("discover", "all", str(ESTATE))
    assert result.exit_code == 0, result.output
    assert "29/29" in result.stderr
    assert seen and len(seen) == len(set(seen))


def test_cli_discover_shadow_map_end_to_end(cli: Callable[..., Result], tmp_path: Path) -> None:
    assert cli("people", "import", str(ROOT / "examples" / "people.json")).exit_code == 0
    result = cli("discover", "all", str(ESTATE))
    assert result.exit_code == 0, result.output
    assert "29/29" in result.stderr  # the progress bar counted every export
    assert "support-bot" in result.stdout
    shadows = json.loads(cli("shadow", "list", "--json").stdout)
    assert "chatgpt" in {s["name"] for s in shadows}
    assert "adopt one with" in cli("shadow", "list").stdout
    svg = tmp_path / "map.svg"
    result = cli("map", "--agent", "support-bot", "--svg", str(svg))
    assert result.exit_code == 0 and "Blast radius of agent support-bot" in result.stdout
    assert ET.parse(svg).getroot().tag == f"{SVG}svg"  # noqa: S314 - our own output
    assert "secrets in more than one place" in cli("map", "--shared").stdout.lower()
    wrong = cli("discover", "aws", str(ESTATE / "k8s" / "prod-eu-1.json"))
    assert wrong.exit_code == 2 and "charter discover k8s" in wrong.stderr
    again = json.loads(cli("discover", "aws", str(ESTATE / "aws"), "--json").stdout)
    assert again["ok"] and all(b["identities"]["created"] == 0 for b in again["batches"])
    nothing = cli("discover", "gcp")
    assert nothing.exit_code == 2 and "give export files" in nothing.stderr
