"""Charter's redacted previews (``postgres://app:…abcd@db``, ``ghp_…abcd``) in a saved report
are never found again as secrets: a report kept next to the code scans clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from charter.cli.discover_fs import render
from charter.discovery.scan import ScanOptions, run_scan
from charter.discovery.scan.detectors import all_detectors
from charter.discovery.scan.sarif import to_sarif

from .helpers import fake, scan_text

KINDS = [d.id for d in all_detectors() if d.id not in {"private-key", "gcp-service-account-key"}]


def test_saved_reports_scan_clean(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    for index, kind in enumerate(KINDS):
        (code / f"s{index}.env").write_text(fake(kind, index).text + "\n")
    report = run_scan([str(code)], ScanOptions())
    assert len(report.findings) >= len(KINDS) - 2  # (the checksum-only kinds may overlap)
    saved = tmp_path / "reports"
    saved.mkdir()
    (saved / "scan.json").write_text(json.dumps(report.to_json(), indent=2))
    (saved / "scan.sarif").write_text(json.dumps(to_sarif(report), indent=2))
    with (saved / "scan.txt").open("w") as handle:
        render(report, Console(file=handle, width=200, no_color=True))
    again = run_scan([str(saved)], ScanOptions())
    found = [(f.path, f.rule.id, f.preview) for f in again.findings]
    assert found == [], "\n".join(map(str, found))


@pytest.mark.parametrize(
    "text",
    [
        "DATABASE_URL=postgres://app:…Xy7q@db.internal:5432/app",
        "DATABASE_URL=postgresql://app:…@db.internal/app",
        "MONGO=mongodb+srv://svc:…9fZk@cluster0.example.net",
        "url: mysql://root:****Wq3z@db.internal/app",
        "password: …Zq9w",
    ],
)
def test_preview_shapes_are_not_secrets(text: str) -> None:
    assert scan_text(text) == []


def test_a_real_password_beside_a_preview_is_still_found() -> None:
    real = fake("postgres-connection-string", 7)
    hits = scan_text(f"# was postgres://app:…Xy7q@db\n{real.text}\n")
    assert [h.detector for h in hits] == ["postgres-connection-string"]
