"""tests/support/timing.py: the seconds per test file, directory and test process."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.support import timing


def _report(nodeid: str, when: str, seconds: float, worker: str) -> pytest.TestReport:
    report = pytest.TestReport(nodeid, (nodeid, 0, ""), {}, "passed", None, when, duration=seconds)
    report.node = SimpleNamespace(gateway=SimpleNamespace(id=worker))  # as xdist's controller
    return report


def test_seconds_add_up_per_file_directory_and_process(tmp_path: Path) -> None:
    run = timing._Timing(tmp_path / "timing.json")
    for nodeid, when, seconds, worker in [
        ("tests/unit/test_a.py::test_one", "setup", 0.5, "gw0"),
        ("tests/unit/test_a.py::test_one", "call", 1.0, "gw0"),
        ("tests/unit/test_a.py::test_two", "call", 0.25, "gw1"),
        ("tests/integration/test_b.py::test_three[x]", "call", 3.0, "gw1"),
        ("tests/integration/test_b.py::test_three[x]", "teardown", 0.5, "gw1"),
    ]:
        run.add(_report(nodeid, when, seconds, worker))
    summary = run.summary()
    assert summary["files"] == [
        {"path": "tests/integration/test_b.py", "seconds": 3.5, "tests": 1},
        {"path": "tests/unit/test_a.py", "seconds": 1.75, "tests": 2},
    ]
    assert summary["directories"] == [
        {"path": "tests/integration", "seconds": 3.5, "tests": 1},
        {"path": "tests/unit", "seconds": 1.75, "tests": 2},
    ]
    assert summary["worker_seconds"] == {"gw0": 1.5, "gw1": 3.8}
    assert summary["test_seconds"] == 5.2  # 5.25, rounded to a tenth
    assert isinstance(summary["cpu_seconds"], float) and summary["cpu_seconds"] > 0
    json.dumps(summary)  # what the plugin writes
