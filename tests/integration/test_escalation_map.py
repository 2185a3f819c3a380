"""Escalation paths through the store: ingest iam-vulnerable, list, walk, draw, find."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from charter.cli.main import app
from charter.cli.runtime import get_services
from charter.errors import InvalidInput
from charter.services.context import Services
from charter.services.map import EdgeKind, render_svg
from charter.web.mapview import render_map

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "aws-escalation" / "iam-vulnerable"
LAMBDA_USER = "aws:200611803367:user/privesc15-PassExistingRoleToNewLambdaThenInvoke-user"
SERVICE_ROLE = "aws:200611803367:role/privesc-high-priv-service-role"


def _ingest(services: Services) -> None:
    report = services.estate.ingest.ingest_tree(FIXTURE, actor="t")
    assert report.ok, report.failures


def test_paths_are_stored_listed_and_walked(services: Services) -> None:
    _ingest(services)
    found, truncated = services.estate.map.escalation_paths(account="200611803367")
    assert not truncated
    by_name = {p["name"]: p for p in found}
    assert not [n for n in by_name if n.startswith("fp")], "a safe user has a path"
    assert {f"fn{i}" for i in range(1, 5)} <= {n.split("-")[0] for n in by_name}
    lam = by_name["privesc15-PassExistingRoleToNewLambdaThenInvoke-user"]
    assert lam["to"] == SERVICE_ROLE and lam["conditional"] is False
    assert "iam:PassRole on it and lambda:CreateFunction" in lam["steps"][0]["reason"]
    with pytest.raises(InvalidInput, match="account"):  # a mistyped account is not "no paths"
        services.estate.map.escalation_paths(account="999999999999")
    # the blast radius follows the escalation edge to the admin role and what it reaches
    reach = services.estate.map.blast_radius(identity=LAMBDA_USER, depth=3)
    escalates = [e for e in reach.graph.edges if e.kind is EdgeKind.ESCALATES]
    assert any(e.target == SERVICE_ROLE for e in escalates)
    assert any(p["through"] == SERVICE_ROLE and p["admin"] for p in reach.paths)


def test_pictures_draw_escalation_edges_apart(sqlite_services: Services) -> None:
    _ingest(sqlite_services)
    graph = sqlite_services.estate.map.escalation_graph()
    assert graph.edges and all(e.kind is EdgeKind.ESCALATES and e.reason for e in graph.edges)
    svg = render_svg(graph, title="escalation")
    assert svg.count('stroke-dasharray="9 3 2 3"') == len(graph.edges)
    console = render_map(graph, label="escalation").svg
    assert 'class="edge escalation' in console or 'class="edge risk escalation' in console
    assert "iam:PassRole on it" in console


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
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


def test_cli_lists_paths_and_the_finding_names_them(cli: Callable[..., Result]) -> None:
    assert cli("discover", "aws", str(FIXTURE)).exit_code == 0
    table = cli("map", "--escalation")
    assert table.exit_code == 0 and "Privilege escalation paths (61)" in table.output
    listed = json.loads(cli("map", "--escalation", "--json").output)
    users = [p for p in listed["paths"] if p["kind"] == "cloud_user"]
    assert len(users) == 31  # 27 with a path + the 4 hidden ones; sre-user is already admin
    findings = json.loads(cli("findings", "--rule", "privilege-escalation", "--json").output)
    flagged = {f["entity"]["name"] for f in findings["findings"]}
    assert "fp1-allow-and-deny-user" not in flagged
    assert "privesc4-CreateAccessKey-user" in flagged
    assert "fn4-exploitableNotAction-user" in flagged


def test_api_lists_paths_and_refuses_bad_input(sqlite_services: Services) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from charter.api import estate as estate_api
    from charter.http.problems import install_problem_handlers

    _ingest(sqlite_services)
    api = FastAPI()
    install_problem_handlers(api)
    api.include_router(estate_api.router)
    api.state.services = sqlite_services
    client = TestClient(api)
    body = client.get("/v1/map/escalation", params={"limit": 5}).json()
    assert len(body["paths"]) == 5 and body["truncated"] is True
    assert all(p["steps"] and p["summary"] for p in body["paths"])
    bad = client.get("/v1/map/escalation", params={"limit": 0})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/")
