"""``charter inbox`` and ``charter notices`` with delivery state, in-process on a seeded store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from tests.support import governance_seed as seed
from tests.support.delivery_peers import Receiver
from typer.testing import CliRunner, Result

from charter.cli.main import app
from charter.cli.runtime import get_services
from charter.services.governance.tasks import file_task

Run = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHARTER_ACTOR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_services.cache_clear()
    services = get_services()
    seed.seed_people_and_agents(services)
    services.reconcile.apply(seed.aws_batch(services.clock.now()), actor="test")
    services.reconcile.apply(seed.fs_batch(), actor="test")
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    yield run
    get_services().close()
    get_services.cache_clear()


def test_inbox_lists_what_waits_on_a_person_with_its_action(cli: Run) -> None:
    services = get_services()
    services.governance.evaluation.ensure_current(actor="test")
    services.governance.worker().run_once()  # tom left: a notice to ada, his agent's new owner
    with services.db.write() as connection:
        task_id = file_task(
            connection,
            kind="revoke",
            target_type="credential",
            target="aws:key/1",
            title="Delete the old key in AWS",
            steps=["aws iam delete-access-key --access-key-id AKIA1"],
            actor="test",
            now=services.clock.now(),
            agent="summarizer",
        )
    grant = services.governance.jit.request(
        "summarizer",
        action="tickets.export",
        resource="zendesk:tickets/1",
        reason="one export",
        duration=3600,
        actor="tom@acme.example",
    )
    result = cli("inbox", "--person", "ada@acme.example", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    sections = {i["section"] for i in items}
    assert {"task", "finding", "notice", "approval"} <= sections
    task = next(i for i in items if i["section"] == "task")
    assert task["id"] == task_id and task["action"].startswith(f"charter tasks done {task_id}")
    approval = next(i for i in items if i["section"] == "approval")
    assert approval["id"] == grant.id and "--by ada@acme.example" in approval["action"]
    finding = next(i for i in items if i["section"] == "finding")
    assert finding["link"].startswith("/findings/")
    # sam owns nothing and may decide nothing: no tasks, findings or approvals
    sams = json.loads(cli("inbox", "--person", "sam@acme.example", "--json").stdout)
    assert not {"task", "finding", "approval"} & {i["section"] for i in sams}
    table = cli("inbox", "--person", "ada@acme.example")
    assert table.exit_code == 0 and "Delete the old key in AWS" in table.stdout


def test_inbox_refuses_without_a_person(cli: Run) -> None:
    result = cli("inbox")
    assert result.exit_code == 2
    assert "person" in result.output and len(result.output.strip().splitlines()) == 1


def test_notices_show_delivery_state(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") as web:
        home = tmp_path / "home"
        policy = {
            "delivery": {
                "channels": {
                    "slack": {"type": "slack", "url": f"{web.url}/slack"},
                    "down": {"type": "slack", "url": f"{web.url}/refuse"},
                },
                "routes": [{"channel": "slack"}, {"channel": "down"}],
            }
        }
        (home / "governance.yaml").write_text(yaml.safe_dump(policy))
        get_services().governance.worker().run_once()
        listed = json.loads(cli("notices", "--json").stdout)
        assert listed, "the worker's workflows filed a notice"
        states = {d["channel"]: d for d in listed[0]["delivery"]}
        assert states["slack"]["status"] == "sent"
        assert states["down"]["status"] == "queued" and "HTTP 503" in states["down"]["error"]
        table = cli("notices")
        assert "slack sent" in table.stdout and "down queued" in table.stdout


def test_malformed_channel_config_is_refused_naming_the_field(cli: Run, tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = {"delivery": {"channels": {"hook": {"type": "webhook", "url": "https://x.example"}}}}
    (home / "governance.yaml").write_text(yaml.safe_dump(bad))
    result = cli("worker", "--once")
    assert result.exit_code == 2, result.output
    assert "delivery.channels.hook.webhook.secret" in result.output


def test_tasks_show_the_issue_they_opened(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_GH_TOKEN", "ghp_x")
    with Receiver("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") as web:
        channel = {"type": "github", "repository": "acme/ops", "token": {"env": "TEST_GH_TOKEN"}}
        policy = {
            "delivery": {
                "channels": {"gh": {**channel, "api": web.url}},
                "routes": [{"channel": "gh", "items": ["task"]}],
            }
        }
        (tmp_path / "home" / "governance.yaml").write_text(yaml.safe_dump(policy))
        services = get_services()
        with services.db.write() as connection:
            task_id = file_task(
                connection,
                kind="revoke",
                target_type="credential",
                target="aws:key/2",
                title="Delete key two",
                steps=["aws iam delete-access-key --access-key-id AKIA2"],
                actor="test",
                now=services.clock.now(),
                agent="summarizer",
            )
        services.governance.delivery.run_pass("w")
        listed = json.loads(cli("tasks", "--json").stdout)
        mine = next(t for t in listed if t["id"] == task_id)
        assert mine["delivery"][0]["reference"] == "acme/ops#1347"
        assert "gh sent acme/ops#1347" in cli("tasks").stdout
