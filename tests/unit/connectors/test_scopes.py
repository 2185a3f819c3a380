"""Exports as they come: a GCP service account list spanning projects, Entra exports of
several tenants. Each project or tenant is its own batch (its own cleanup scope).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .helpers import FIXTURES, normalise

PROD, DEV = "acme-ml-prod", "acme-ml-dev"


def test_a_gcp_list_spanning_two_projects_is_split_per_project(tmp_path: Path) -> None:
    root = tmp_path / "gcp"
    shutil.copytree(FIXTURES / "gcp", root)
    accounts = json.loads((root / "service-accounts.json").read_text())
    moved = accounts[2]["email"]
    moved_to = moved.replace(f"@{PROD}.", f"@{DEV}.")
    for name in ("service-accounts.json", "keys.json"):
        path = root / name
        path.write_text(
            path.read_text().replace(
                f"projects/{PROD}/serviceAccounts/{moved}",
                f"projects/{DEV}/serviceAccounts/{moved_to}",
            )
        )
    accounts[2] = {**accounts[2], "projectId": DEV, "email": moved_to}
    (root / "service-accounts.json").write_text(json.dumps(accounts))
    got = normalise("gcp", root)
    by_project = {b.account: b for b in got.batches}
    assert list(by_project) == [PROD, DEV], "the project with most accounts first"
    dev = {i.id for i in by_project[DEV].identities}
    assert dev == {f"gcp:{DEV}:serviceaccount/{moved_to}"}
    prod = {i.id for i in by_project[PROD].identities}
    assert f"gcp:{PROD}:serviceaccount/{moved}" not in prod
    dev_keys = list(by_project[DEV].credentials)
    assert dev_keys and all(c.account == DEV for c in dev_keys), "keys follow their project"
    assert all(moved_to not in c.id for c in by_project[PROD].credentials)
    assert not [w for b in got.batches for w in b.skipped.warnings()]


def test_entra_exports_of_two_tenants_are_two_batches(tmp_path: Path) -> None:
    other = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    first, second = tmp_path / "contoso", tmp_path / "fabrikam"
    shutil.copytree(FIXTURES / "entra", first)
    shutil.copytree(FIXTURES / "entra", second)
    org = json.loads((second / "organization.json").read_text())
    tenant = org["value"][0]["id"]
    org["value"][0]["id"] = other
    (second / "organization.json").write_text(json.dumps(org))
    got = normalise("entra", first, second)
    assert sorted(b.account for b in got.batches) == sorted([tenant, other])
    per = {b.account: {i.id.split(":", 2)[2] for i in b.identities} for b in got.batches}
    assert per[tenant] == per[other] and per[tenant], "each tenant holds its own copy"
    assert {len(b.origin) for b in got.batches} == {5}, "each batch names its own files"
