"""The governance policy file: defaults, the example file, refusals that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.domain.governance.engine import Evaluator
from charter.domain.governance.policy import (
    DEFAULT_POLICY,
    load_policy,
    load_policy_file,
    parse_policy,
    policy_path,
)
from charter.errors import InvalidInput

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "policy" / "governance.yaml"


def test_the_example_file_is_exactly_the_defaults() -> None:
    assert load_policy_file(EXAMPLE) == DEFAULT_POLICY


def test_durations_and_overrides() -> None:
    policy = parse_policy(
        {
            "thresholds": {"stale_after": "30d", "shadow_grace": "7d"},
            "rules": {"stale-agent": {"enabled": False}, "static-cloud-key": {"severity": "high"}},
        }
    )
    assert policy.thresholds.stale_after == 30 * 86400
    assert policy.thresholds.shadow_grace == 7 * 86400
    evaluator = Evaluator(policy)
    assert "stale-agent" not in evaluator.rule_ids and "static-cloud-key" in evaluator.rule_ids
    assert policy.digest() != DEFAULT_POLICY.digest()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"thresholds": {"stale_after": "ninety days"}}, "thresholds.stale_after"),
        ({"thresholds": {"stale_aftr": "9d"}}, "thresholds.stale_aftr"),
        ({"reviews": {"suspend_unreviewed": "maybe"}}, "reviews.suspend_unreviewed"),
        ({"rules": {"Not_Kebab": {}}}, "rules"),
        ({"version": 2}, "version"),
    ],
)
def test_bad_policies_name_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy(document)
    assert caught.value.field is not None and caught.value.field.startswith(field)


def test_unknown_rule_ids_are_refused_when_rules_are_known() -> None:
    policy = parse_policy({"rules": {"no-such-rule": {"enabled": False}}})
    with pytest.raises(InvalidInput) as caught:
        Evaluator(policy)
    assert caught.value.field == "rules.no-such-rule"


def test_where_the_policy_comes_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARTER_GOVERNANCE_POLICY", raising=False)
    assert policy_path(tmp_path) is None and load_policy(tmp_path) == DEFAULT_POLICY
    (tmp_path / "governance.yaml").write_text("thresholds: {stale_after: 10d}\n")
    assert load_policy(tmp_path).thresholds.stale_after == 10 * 86400
    other = tmp_path / "other.yaml"
    other.write_text("thresholds: {stale_after: 20d}\n")
    monkeypatch.setenv("CHARTER_GOVERNANCE_POLICY", str(other))
    assert load_policy(tmp_path).thresholds.stale_after == 20 * 86400
    assert load_policy(tmp_path, tmp_path / "governance.yaml").thresholds.stale_after == 864000
    bad = tmp_path / "bad.yaml"
    bad.write_text("thresholds: [1, 2\n")
    with pytest.raises(InvalidInput):
        load_policy_file(bad)
    with pytest.raises(InvalidInput, match="cannot read"):
        load_policy_file(tmp_path / "missing.yaml")
