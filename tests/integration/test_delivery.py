"""Delivery against real peers on loopback: SMTP with STARTTLS and AUTH, signed webhooks,
Slack and Teams, GitHub and Jira issue APIs; refusing, stalling and garbage channels;
two workers racing on one store (SQLite and PostgreSQL)."""

from __future__ import annotations

import email
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import governance_seed as seed
from tests.support.delivery_peers import SMTP_PASSWORD, SMTP_USER, MailServer, Receiver

from charter.config import Settings
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.governance import notices as notices_
from charter.services.governance.tasks import TaskStatus, file_task

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[tuple[MailServer, Receiver]]:
    with MailServer(tmp_path) as mail, Receiver(SECRET) as web:
        yield mail, web


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TEST_GITHUB_TOKEN", "ghp_test_token_value")


def write_policy(home: Path, delivery: dict[str, Any]) -> None:
    (home / "governance.yaml").write_text(yaml.safe_dump({"delivery": delivery}))


def channels(mail: MailServer, web: Receiver, **extra: Any) -> dict[str, Any]:
    return {
        "mail": {
            "type": "smtp",
            "host": "127.0.0.1",
            "port": mail.port,
            "security": "starttls",
            "username": SMTP_USER,
            "password": {"env": "TEST_SMTP_PASSWORD"},
            "sender": "charter@acme.example",
            "ca_file": str(mail.cert),
        },
        "hook": {"type": "webhook", "url": f"{web.url}/webhook", "secret": {"secret": "hook"}},
        "slack": {"type": "slack", "url": f"{web.url}/slack"},
        "teams": {"type": "teams", "url": f"{web.url}/teams"},
        **extra,
    }


def notice(services: Services, key: str, recipient: str = "ada@acme.example", **kw: Any) -> None:
    with services.db.write() as connection:
        notices_.send(
            connection,
            key=key,
            recipient=recipient,
            kind=kw.get("kind", "review.due"),
            subject=kw.get("subject", f"Review due: {key}"),
            body="Decide by Friday.",
            now=services.clock.now(),
            agent=kw.get("agent"),
        )


@pytest.fixture
def people(services: Services) -> Services:
    seed.seed_people_and_agents(services)  # ada's manager is sam
    return services


def test_notice_goes_to_owner_manager_and_team_channels(
    people: Services, peers: tuple[MailServer, Receiver], env: None, tmp_path: Path
) -> None:
    mail, web = peers
    (tmp_path / "secrets.yaml").write_text(yaml.safe_dump({"hook": SECRET}))
    write_policy(
        tmp_path,
        {
            "channels": channels(mail, web),
            "secrets_file": "secrets.yaml",
            "routes": [
                {"channel": "mail", "to": ["owner", "manager"]},
                {"channel": "hook"},
                {"channel": "slack", "kinds": ["review.*"]},
                {"channel": "teams", "kinds": ["expiry.*"]},  # not for this kind
            ],
        },
    )
    notice(people, "review.due:summarizer", agent="summarizer")
    worker = people.governance.worker()
    result = worker.run_once()["deliver"]  # the workflows job's notices go out too
    assert result["routed"] >= 1 and result["errors"] == 0
    ours = [m for m in mail.messages if "Review due: review.due:summarizer" in m["data"]]
    assert sorted(m["to"][0] for m in ours) == ["ada@acme.example", "sam@acme.example"]
    assert all(m["tls"] and m["auth"] for m in mail.messages)  # STARTTLS, then AUTH
    parsed = email.message_from_string(ours[0]["data"])
    assert parsed["Subject"] == "Review due: review.due:summarizer"
    hooks = [b["data"] for b in web.bodies["/webhook"] if b["data"]["kind"] == "review.due"]
    assert web.bad_signatures == 0 and len(hooks) == 1 and hooks[0]["agent"] == "summarizer"
    assert sum("Review due" in b["text"] for b in web.bodies["/slack"]) == 1
    assert web.hits["/teams"] == 0
    # idempotent: more passes, more workers, nothing is sent again
    sent = (len(mail.messages), len(web.webhook_ids), web.hits["/slack"])
    people.clock.advance(seconds=120)  # type: ignore[attr-defined]
    people.governance.worker().run_once()
    assert (len(mail.messages), len(web.webhook_ids), web.hits["/slack"]) == sent
    mine = people.governance.notices.list(kind="review.due")
    state = people.governance.delivery.states("notice", [str(mine[0].id)])[str(mine[0].id)]
    assert {s["status"] for s in state} == {"sent"} and len(state) == 4


def test_a_forged_or_stale_signature_is_refused_by_the_receiver(
    peers: tuple[MailServer, Receiver],
) -> None:
    import httpx

    from charter.domain.governance.messages import signed_headers

    _, web = peers
    body = b'{"type":"charter.notice"}'
    wrong = signed_headers("whsec_" + "QUJD" * 8, "msg_1", int(__import__("time").time()), body)
    stale = signed_headers(SECRET, "msg_2", int(__import__("time").time()) - 3600, body)
    good = signed_headers(SECRET, "msg_3", int(__import__("time").time()), body)
    assert httpx.post(f"{web.url}/webhook", content=body, headers=wrong).status_code == 401
    assert httpx.post(f"{web.url}/webhook", content=body, headers=stale).status_code == 401
    tampered = httpx.post(f"{web.url}/webhook", content=body + b" ", headers=good)
    assert tampered.status_code == 401
    assert httpx.post(f"{web.url}/webhook", content=body, headers=good).status_code == 204


@pytest.mark.timeout(60)
def test_broken_channels_keep_the_notice_queued_and_the_worker_carries_on(
    people: Services, peers: tuple[MailServer, Receiver], env: None, tmp_path: Path
) -> None:
    mail, web = peers
    broken = {
        "refuses": {
            "type": "webhook",
            "url": f"{web.url}/refuse",
            "secret": {"env": "TEST_WEBHOOK_SECRET"},
        },
        "garbage": {"type": "slack", "url": f"{web.url}/garbage"},
        "stalls": {"type": "slack", "url": f"{web.url}/slow"},
        "nobody": {"type": "teams", "url": "http://127.0.0.1:9/"},  # connection refused
        "nosecret": {"type": "webhook", "url": f"{web.url}/webhook", "secret": {"env": "UNSET_X"}},
    }
    write_policy(
        tmp_path,
        {
            "channels": channels(mail, web, **broken),
            "timeout": 1,
            "retry": {"attempts": 2, "base": "1m", "max": "1h"},
            "routes": [{"channel": name} for name in [*broken, "slack"]],
        },
    )
    notice(people, "n1")
    notice(people, "n2")
    result = people.governance.delivery.run_pass("w")
    assert result["sent"] == 2  # slack took both, whatever the others did
    assert web.hits["/slow"] == 1  # a stalled channel is tried once a pass, not per notice
    assert web.hits["/refuse"] == 1
    listed = people.governance.notices.list()
    states = people.governance.delivery.states("notice", [str(n.id) for n in listed])
    errors = {s["channel"]: s for s in states[str(listed[0].id)]}
    assert errors["slack"]["status"] == "sent"
    assert errors["refuses"]["status"] == "queued" and "HTTP 503" in errors["refuses"]["error"]
    assert "did not answer ok" in errors["garbage"]["error"]
    assert "timed out" in errors["stalls"]["error"]
    assert "refused" in errors["nobody"]["error"]
    assert "UNSET_X is not set" in errors["nosecret"]["error"]
    assert errors["refuses"]["attempts"] == 1
    # nothing is retried before its backoff, then the second failure is final
    assert people.governance.delivery.run_pass("w")["sent"] == 0
    people.clock.advance(seconds=61)  # type: ignore[attr-defined]
    people.governance.delivery.run_pass("w")
    states = people.governance.delivery.states("notice", [str(listed[0].id)])
    final = {s["channel"]: s["status"] for s in states[str(listed[0].id)]}
    assert final["refuses"] == "failed" and final["slack"] == "sent"


@pytest.mark.parametrize("closer", ["gh", "jira"])
def test_a_task_opens_issues_and_closing_the_issue_closes_the_task(
    people: Services, peers: tuple[MailServer, Receiver], env: None, tmp_path: Path, closer: str
) -> None:
    _, web = peers
    write_policy(
        tmp_path,
        {
            "channels": {
                "gh": {
                    "type": "github",
                    "repository": "acme/ops",
                    "token": {"env": "TEST_GITHUB_TOKEN"},
                    "api": web.url,
                },
                "jira": {
                    "type": "jira",
                    "url": web.url,
                    "project": "ED",
                    "email": "bot@acme.example",
                    "token": {"env": "TEST_GITHUB_TOKEN"},
                },
            },
            "routes": [
                {"channel": "gh", "items": ["task"]},
                {"channel": "jira", "items": ["task"]},
            ],
            "poll_issues_every": "5m",
        },
    )
    with people.db.write() as connection:
        task_id = file_task(
            connection,
            kind="revoke",
            target_type="credential",
            target="aws:key/AKIA...",
            title="Delete access key AKIA…7Q in AWS",
            steps=["aws iam delete-access-key --access-key-id AKIA…7Q"],
            actor="test",
            now=people.clock.now(),
            agent="summarizer",
        )
    first = people.governance.delivery.run_pass("w")
    assert first["sent"] == 2 and first["issues_closed"] == 0
    created = web.bodies["/repos/acme/ops/issues"][0]
    assert created["title"] == "Delete access key AKIA…7Q in AWS"
    assert "- [ ] aws iam delete-access-key" in created["body"]
    assert web.github_auth == ["Bearer ghp_test_token_value"]
    assert web.jira_auth[0].startswith("Basic ")
    assert web.bodies["/rest/api/2/issue"][0]["fields"]["project"] == {"key": "ED"}
    state = people.governance.delivery.states("task", [task_id])[task_id]
    assert {s["reference"] for s in state} == {"acme/ops#1347", "ED-24"}
    if closer == "gh":
        web.issue_closed = True  # GitHub: "state": "closed"
    else:
        web.jira_done = True  # Jira: the status category "done"
    people.clock.advance(seconds=30)  # type: ignore[attr-defined]
    assert people.governance.delivery.run_pass("w")["issues_closed"] == 0  # not yet polled again
    people.clock.advance(seconds=300)  # type: ignore[attr-defined]
    assert people.governance.delivery.run_pass("w")["issues_closed"] == 1
    task = people.governance.tasks.get(task_id)
    reference = "gh:acme/ops#1347" if closer == "gh" else "jira:ED-24"
    assert task.status == TaskStatus.DONE and task.done_by == reference
    other = "/rest/api/2/issue/ED-24" if closer == "gh" else "/repos/acme/ops/issues/1347"
    polled = web.hits[other]
    people.clock.advance(seconds=301)  # type: ignore[attr-defined]
    assert people.governance.delivery.run_pass("w")["issues_closed"] == 0
    assert web.hits[other] == polled  # the task is done: the other tracker is not asked
    assert len(web.bodies["/repos/acme/ops/issues"]) == 1  # the issue was opened once


def test_digest_gathers_a_days_notices_into_one_mail(
    people: Services, peers: tuple[MailServer, Receiver], env: None, tmp_path: Path
) -> None:
    mail, web = peers
    write_policy(
        tmp_path,
        {
            "channels": channels(mail, web),
            "digest_at": "08:00",
            "routes": [{"channel": "mail", "to": ["owner"], "digest": True}],
        },
    )
    for index in range(3):
        notice(people, f"n{index}")
    assert people.governance.delivery.run_pass("w")["sent"] == 0  # 10:00: tomorrow 08:00
    people.clock.advance(hours=22)  # type: ignore[attr-defined]
    assert people.governance.delivery.run_pass("w")["sent"] == 3
    assert len(mail.messages) == 1
    body = email.message_from_string(mail.messages[0]["data"])
    assert body["Subject"] == "Charter: 3 item(s) for 2026-11-03"
    assert "Review due: n0" in mail.messages[0]["data"]


def test_two_workers_racing_deliver_each_notice_once(
    database_url: str,
    people: Services,
    peers: tuple[MailServer, Receiver],
    env: None,
    tmp_path: Path,
    clock: FixedClock,
) -> None:
    _, web = peers
    write_policy(
        tmp_path,
        {
            "channels": {
                "hook": {
                    "type": "webhook",
                    "url": f"{web.url}/webhook",
                    "secret": {"env": "TEST_WEBHOOK_SECRET"},
                }
            },
            "routes": [{"channel": "hook"}],
            "batch": 20,
        },
    )
    for index in range(200):
        notice(people, f"race-{index}", recipient=f"p{index % 7}@acme.example")
    others = [
        Services.from_settings(Settings(home=tmp_path, database_url=database_url), clock=clock)
        for _ in range(2)
    ]
    try:
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def run(services: Services) -> None:
            try:
                barrier.wait()
                services.governance.delivery.run_pass(services.governance.worker().holder)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        problems: list[str] = []
        for _ in range(5):  # a send the loaded receiver dropped waits for the next pass
            threads = [threading.Thread(target=run, args=(s,)) for s in [people, *others]]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            if people.governance.delivery.counts() == {"sent": 200}:
                break
            listed = people.governance.notices.list(limit=1000)
            states = people.governance.delivery.states("notice", [str(n.id) for n in listed])
            problems += [s["error"] for v in states.values() for s in v if s["error"]]
            clock.advance(hours=2)  # past any backoff
    finally:
        for other in others:
            other.close()
    assert people.governance.delivery.counts() == {"sent": 200}, problems
    assert len(web.webhook_ids) == 200
    assert Counter(web.webhook_ids).most_common(1)[0][1] == 1


def test_teams_gets_an_adaptive_card_and_mail_refuses_bad_auth_or_an_unverified_relay(
    people: Services, peers: tuple[MailServer, Receiver], env: None, tmp_path: Path
) -> None:
    mail, web = peers
    good = channels(mail, web)
    wrong_password = {**good["mail"], "password": {"env": "TEST_WEBHOOK_SECRET"}}
    unverified = {k: v for k, v in good["mail"].items() if k != "ca_file"}  # system CAs only
    write_policy(
        tmp_path,
        {
            "channels": {"teams": good["teams"], "badauth": wrong_password, "nocert": unverified},
            "routes": [{"channel": "teams"}, {"channel": "badauth"}, {"channel": "nocert"}],
        },
    )
    notice(people, "t1", subject="Charter expires in 7 days", kind="expiry.warn")
    result = people.governance.delivery.run_pass("w")
    assert result["sent"] == 1 and result["errors"] == 2
    card = web.bodies["/teams"][0]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["text"] == "Charter expires in 7 days"
    assert mail.messages == []  # neither mail was accepted
    (listed,) = people.governance.notices.list()
    states = {
        s["channel"]: s
        for s in people.governance.delivery.states("notice", [str(listed.id)])[str(listed.id)]
    }
    assert (
        states["badauth"]["status"] == "queued"
        and "SMTPAuthenticationError" in states["badauth"]["error"]
    )
    assert (
        states["nocert"]["status"] == "queued"
        and "CERTIFICATE_VERIFY_FAILED" in states["nocert"]["error"]
    )
    assert SECRET not in states["badauth"]["error"]  # no secret in a stored error


def test_a_departed_manager_is_not_written_to(
    people: Services, peers: tuple[MailServer, Receiver], env: None, tmp_path: Path
) -> None:
    from charter.services.people import PersonRecord

    mail, web = peers
    people.people.import_records(
        [PersonRecord(email="lea@acme.example", name="Lea", manager="tom@acme.example")],
        actor="test",
    )  # tom left
    write_policy(
        tmp_path,
        {
            "channels": channels(mail, web),
            "routes": [{"channel": "mail", "to": ["owner", "manager"]}],
        },
    )
    notice(people, "lea-1", recipient="lea@acme.example")
    notice(people, "ada-1", recipient="ada@acme.example")  # ada's manager sam is here
    assert people.governance.delivery.run_pass("w")["sent"] == 3
    assert sorted(m["to"][0] for m in mail.messages) == [
        "ada@acme.example",
        "lea@acme.example",
        "sam@acme.example",
    ]


def test_an_unreadable_secrets_file_holds_only_the_channels_that_need_it(
    people: Services, peers: tuple[MailServer, Receiver], env: None, tmp_path: Path
) -> None:
    mail, web = peers
    write_policy(
        tmp_path,
        {
            "channels": channels(mail, web),
            "secrets_file": "missing-secrets.yaml",
            "routes": [{"channel": "hook"}, {"channel": "slack"}],
        },
    )
    notice(people, "s1")
    assert people.governance.delivery.run_pass("w")["sent"] == 1  # slack needs no secret
    (listed,) = people.governance.notices.list()
    states = people.governance.delivery.states("notice", [str(listed.id)])[str(listed.id)]
    hook = next(s for s in states if s["channel"] == "hook")
    assert hook["status"] == "queued"
    assert "secret 'hook'" in hook["error"] and "cannot read" in hook["error"]
