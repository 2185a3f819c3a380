"""The file-system scanner: secrets, MCP client configs and agent code.

``run_scan(paths, ScanOptions())`` returns a ``ScanReport``; ``to_sarif`` and
``ScanReport.to_json`` format it; ``batches`` turns it into the estate records
the store reconciles. See docs/scanner.md.
"""

from charter.discovery.scan.baseline import load_baseline, parse_baseline
from charter.discovery.scan.detectors import all_detectors
from charter.discovery.scan.engine import DEFAULT_MAX_FILE_SIZE, ScanOptions, rule, run_scan
from charter.discovery.scan.report import ScanReport, SecretFinding

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "ScanOptions",
    "ScanReport",
    "SecretFinding",
    "all_detectors",
    "load_baseline",
    "parse_baseline",
    "rule",
    "run_scan",
]
