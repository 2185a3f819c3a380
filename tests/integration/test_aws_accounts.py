"""AWS exports as they really come: several accounts in one file, and bad records.

The case from the field: an authorization-details export of account 200611803367
that also holds a user of 012345678901. Each account is its own batch and cleanup
scope; a record that cannot be read is skipped with a warning naming it, and the
rest of the file is ingested. Real SQLite and PostgreSQL stores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.support.server import charter_env, run_cli

from charter.services.context import Services
from charter.store import schema

MAIN, OTHER = "200611803367", "012345678901"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "aws" / "authorization-details.json"


def _export(tmp_path: Path, *, other: bool = True, garbage: bool = True) -> Path:
    text = FIXTURE.read_text().replace("123456789012", MAIN)
    data: dict[str, Any] = json.loads(text)
    if other:
        data["UserDetailList"].append(
            {
                "Path": "/",
                "UserName": "intruder-bot",
                "UserId": "AIDAOTHERACCOUNT0001",
                "Arn": f"arn:aws:iam::{OTHER}:user/intruder-bot",
                "CreateDate": "2024-01-02T00:00:00Z",
                "GroupList": [],
                "AttachedManagedPolicies": [
                    {
                        "PolicyName": "AdministratorAccess",
                        "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
                    }
                ],
                "UserPolicyList": [],
                "Tags": [],
            }
        )
    if garbage:
        data["RoleDetailList"].append({"RoleName": "no-arn-role", "Path": "/"})
        data["UserDetailList"].append(["not", "a", "user"])
    out = tmp_path / "export"
    out.mkdir(exist_ok=True)
    path = out / "authorization-details.json"
    path.write_text(json.dumps(data))
    return path


def _identities(services: Services, account: str) -> dict[str, Any]:
    with services.db.read() as connection:
        rows = connection.execute(
            sa.select(schema.identities.c.id, schema.identities.c.properties).where(
                schema.identities.c.source == "aws", schema.identities.c.account == account
            )
        ).all()
    return {row.id: row for row in rows}


def test_a_merged_export_is_split_per_account_and_bad_records_are_skipped(
    services: Services, tmp_path: Path
) -> None:
    path = _export(tmp_path)
    report = services.estate.ingest.ingest_files("aws", [path], actor="t")
    by_account = {r.account: r for r in report.results}
    assert set(by_account) == {MAIN, OTHER}, "one batch per account"
    main, other = by_account[MAIN], by_account[OTHER]
    assert other.identities.created == 1
    assert main.identities.created >= 5
    intruder = _identities(services, OTHER)[f"aws:{OTHER}:user/intruder-bot"]
    assert intruder.properties["admin"] is True, "AWS-managed policies reach every account"
    assert f"aws:{MAIN}:user/intruder-bot" not in _identities(services, MAIN)
    # the two garbage records are skipped by name, counted, and the rest ingested
    assert main.skipped == 2, main.warnings
    assert any("RoleDetailList[3]" in w and "Arn" in w for w in main.warnings)
    assert any("UserDetailList[3]" in w and "expected an object" in w for w in main.warnings)
    assert other.skipped == 0
    assert other.warnings == []
    summary = report.summary()
    assert summary["skipped"] == 2
    assert {b["account"]: b["skipped"] for b in summary["batches"]} == {MAIN: 2, OTHER: 0}


def test_each_account_is_its_own_cleanup_scope(services: Services, tmp_path: Path) -> None:
    services.estate.ingest.ingest_files("aws", [_export(tmp_path)], actor="t")
    before_other = set(_identities(services, OTHER))
    # the next collection holds only the main account, without one of its users
    path = _export(tmp_path, other=False, garbage=False)
    data = json.loads(path.read_text())
    gone = data["UserDetailList"].pop(0)
    path.write_text(json.dumps(data))
    report = services.estate.ingest.ingest_files("aws", [path], actor="t")
    assert [r.account for r in report.results] == [MAIN]
    assert report.results[0].identities.gone == 1
    assert report.results[0].identities.gone_ids == [f"aws:{MAIN}:user/{gone['UserName']}"]
    assert set(_identities(services, OTHER)) == before_other, "another account is not touched"


def test_the_cli_shows_skipped_records_and_json_carries_them(tmp_path: Path) -> None:
    path = _export(tmp_path)
    env = charter_env(tmp_path / "home")
    table = run_cli("discover", "aws", str(path), env=env)
    assert table.returncode == 0, table.stderr
    assert "skipped 2 record(s)" in table.stdout + table.stderr
    assert "RoleDetailList[3]" in table.stdout + table.stderr
    out = run_cli("discover", "aws", str(path), "--json", env=env)
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    assert document["skipped"] == 2
    assert sorted(b["account"] for b in document["batches"]) == sorted([MAIN, OTHER])
