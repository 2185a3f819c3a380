"""Charter's own files in a scan: an enrolled agent key is info naming the agent, an AWS key
id alone is an identifier, and Charter's redacted previews are never found again."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.server import ROOT

from charter.discovery.scan import ScanOptions, run_scan
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.enums import Severity
from charter.domain.lifecycle import Transition
from charter.domain.tokens.jwk import Alg, generate_private_key, private_key_pem
from charter.services.context import Services

AGENT = "support-summarizer"


def _active_agent(services: Services) -> None:
    path = ROOT / "examples" / "people.json"
    from charter.services.people import parse_directory

    services.people.import_records(
        parse_directory(path.read_bytes(), filename=path.name), actor="test"
    )
    charter = ROOT / "examples" / "agents" / f"{AGENT}.yaml"
    services.registry.register(
        parse_charter_text(charter.read_bytes(), source=str(charter)), actor="test"
    )
    services.registry.transition(AGENT, Transition.ACTIVATE, actor="test", reason="approved")


def test_an_enrolled_agent_key_is_info_naming_its_agent(services: Services, tmp_path: Path) -> None:
    _active_agent(services)
    ours, other = generate_private_key(Alg.EDDSA), generate_private_key(Alg.ES256)
    services.tokens.enrol(AGENT, ours.public_key(), actor="test")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "agent.pem").write_bytes(private_key_pem(ours))
    (tree / "stray.pem").write_bytes(private_key_pem(other))
    report = run_scan([str(tree)], ScanOptions())
    services.scans.record(report, actor="test")
    by_file = {f.path: f for f in report.findings}
    assert by_file["agent.pem"].severity is Severity.INFO
    assert by_file["agent.pem"].properties["charter_agent"] == AGENT
    assert by_file["stray.pem"].severity is Severity.CRITICAL  # not enrolled: a leak
    assert "charter_agent" not in by_file["stray.pem"].properties
    services.governance.evaluation.evaluate(actor="test")
    found, _ = services.governance.findings.list(limit=1000)
    leaks = {f.entity_name: f for f in found if f.rule == "secret-leaked"}
    ours_finding = next(f for f in leaks.values() if AGENT in f.message)
    assert ours_finding.severity is Severity.INFO
    assert "Charter-enrolled key for agent support-summarizer" in ours_finding.message
    assert "keep it private" in ours_finding.message
    others = [f for f in leaks.values() if f is not ours_finding]
    assert [f.severity for f in others] == [Severity.HIGH]


def test_an_aws_key_id_alone_is_an_identifier_not_a_leak(
    services: Services, tmp_path: Path
) -> None:
    export = {"AccessKeyMetadata": [{"UserName": "ci", "AccessKeyId": "AKIA" + "Q3ZV7BRD2MWX5KLP"}]}
    (tmp_path / "access-keys.json").write_text(json.dumps(export))
    report = run_scan([str(tmp_path)], ScanOptions())
    assert [(f.rule.id, f.severity) for f in report.findings] == [("aws-access-key", Severity.INFO)]
    services.scans.record(report, actor="test")
    services.governance.evaluation.evaluate(actor="test")
    found, _ = services.governance.findings.list(limit=1000)
    leaks = [f for f in found if f.rule == "secret-leaked"]
    assert [f.severity for f in leaks] == [Severity.INFO]
    assert "identifier without its secret" in leaks[0].message
