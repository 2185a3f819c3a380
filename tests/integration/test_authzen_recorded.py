"""An AuthZEN answer is sent only once its decisions are committed: a batch a PEP has
received is in the store even if the server is killed (SIGKILL) the moment after, each
decision once and in order; when the store refuses the write, the answer is a 503."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.integration.test_decisions_authzen import PLATFORM, REVIEWER, seed
from tests.support.server import live_server

ACTIONS = ("github.pulls.read", "github.pulls.merge")  # allowed, denied


def _batch(tag: str, count: int) -> dict[str, Any]:
    return {
        "subject": REVIEWER,
        "evaluations": [
            {
                "action": {"name": ACTIONS[index % 2]},
                "resource": {**PLATFORM, "id": f"acme/platform-{tag}-{index}"},
            }
            for index in range(count)
        ],
    }


def _recorded(home: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(home / "charter.db") as connection:
        return connection.execute(
            "SELECT resource, allowed FROM activities WHERE source = 'authzen' ORDER BY id"
        ).fetchall()


def _expected(tag: str, count: int) -> list[tuple[str, int]]:
    return [(f"github:acme/platform-{tag}-{index}", int(index % 2 == 0)) for index in range(count)]


def test_an_acknowledged_batch_survives_a_kill_and_a_restart(tmp_path: Path) -> None:
    env = seed(tmp_path)
    for round_ in ("first", "second"):  # the second: a new server on the same store
        with live_server(env) as server, server.client() as client:
            answer = client.post("/access/v1/evaluations", json=_batch(round_, 400))
            single = client.post(
                "/access/v1/evaluation",
                json={**_batch(round_, 1)["evaluations"][0], "subject": REVIEWER},
            )
            server.process.kill()  # no shutdown hook, no final flush: only what was committed
            server.process.wait(timeout=30)
        assert answer.status_code == 200 and single.status_code == 200
        decisions = [item["decision"] for item in answer.json()["evaluations"]]
        assert decisions == [index % 2 == 0 for index in range(400)]
    rows = _recorded(tmp_path)
    assert rows == (
        _expected("first", 400)
        + _expected("first", 1)
        + _expected("second", 400)
        + _expected("second", 1)
    )


def test_when_the_store_refuses_the_write_the_answer_is_503_not_a_decision(
    tmp_path: Path,
) -> None:
    env = seed(tmp_path)
    env["CHARTER_RECORD_TIMEOUT"] = "1"
    with live_server(env) as server, server.client() as client:
        with sqlite3.connect(tmp_path / "charter.db") as connection:
            connection.execute(
                "CREATE TRIGGER test_fail BEFORE INSERT ON activities "
                "BEGIN SELECT RAISE(ABORT, 'the store refuses'); END"
            )
        refused = client.post("/access/v1/evaluations", json=_batch("refused", 20))
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("not-recorded")
        assert '"decision"' not in refused.text and "evaluations" not in refused.json()
        with sqlite3.connect(tmp_path / "charter.db") as connection:
            connection.execute("DROP TRIGGER test_fail")
        answer = client.post("/access/v1/evaluations", json=_batch("after", 20))
        assert answer.status_code == 200
    # the refused batch was decided and is written once the store takes it: never twice
    assert _recorded(tmp_path) == _expected("refused", 20) + _expected("after", 20)
