"""One bad record never costs the file, for every connector.

Each connector's fixture export gets one garbage record; the export must still be
read, the garbage skipped with a warning naming it (file and index), and every
other record give exactly what the clean export gives.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from charter.connectors import registry
from charter.connectors.skipping import reason
from charter.connectors.streaming import Rec
from charter.errors import InvalidInput

from .helpers import FIXTURES, normalise

#: source → (file, array member or None for a top-level array, a malformed object)
TARGETS: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "aws": ("authorization-details.json", "UserDetailList", {"Path": "/"}),
    "entra": ("servicePrincipals.json", "value", {"displayName": "half a principal"}),
    "gcp": ("service-accounts.json", None, {"displayName": "no email, no project"}),
    "github": ("deploy-keys.json", None, {"title": "a key with no id"}),
    "gworkspace": ("token-activity.json", "items", {"kind": "admin#reports#activity"}),
    "k8s": ("prod-eu-1.json", "items", {"kind": "ServiceAccount"}),
    "okta": ("apps.json", None, {"label": "an app with no links"}),
    "slack": ("approved-apps.json", "approved_apps", {"date_updated": 1}),
}


def test_every_connector_is_covered() -> None:
    assert set(TARGETS) == set(registry.CONNECTORS)


def _with(tmp_path: Path, source: str, garbage: Any) -> tuple[Path, str]:
    root = tmp_path / source
    shutil.copytree(FIXTURES / source, root)
    name, member, _ = TARGETS[source]
    path = root / name
    data = json.loads(path.read_text())
    records = data if member is None else data[member]
    records.insert(1, garbage)
    path.write_text(json.dumps(data))
    return root, f"{name}: {member or ''}[1]"


def _comparable(got: Any) -> tuple[set[str], set[str], set[str]]:
    return (
        {i.id for i in got.identities},
        {c.id for c in got.credentials},
        {g.id for g in got.grants},
    )


@pytest.mark.parametrize("kind", ["a number", "an object missing its fields"])
@pytest.mark.parametrize("source", sorted(TARGETS))
def test_one_garbage_record_is_skipped_by_name_and_the_rest_ingested(
    tmp_path: Path, source: str, kind: str
) -> None:
    garbage = 42 if kind == "a number" else TARGETS[source][2]
    root, where = _with(tmp_path, source, garbage)
    got = normalise(source, root)
    warnings = sorted({w for batch in got.batches for w in batch.skipped.warnings()})
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(where + ": "), (warnings, where)
    clean = normalise(source, FIXTURES / source)
    assert _comparable(got) == _comparable(clean)


def test_a_skip_reason_names_the_field_not_the_record_again() -> None:
    rec = Rec("users.json: [3]", {})
    assert reason(rec, InvalidInput("missing", field="users.json: [3].email")) == "email: missing"
    assert reason(rec, InvalidInput("bad", field="users.json: [3]")) == "bad"
    assert reason(rec, KeyError("id")).startswith("cannot read the record (KeyError")
