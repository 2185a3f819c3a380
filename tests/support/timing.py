"""A pytest plugin: the suite's time per test file, written to a JSON file.

    .venv/bin/pytest -q -n 2 --timing-json /tmp/timing.json tests/integration

(tests/conftest.py loads it.)

Sums each test's setup, call and teardown durations per file (as xdist's workers
report them to the controller, so it works with ``-n``), and per top-level
directory, and per test process (a process far below the others sat idle), and
writes them largest first with the test counts and the run's CPU
seconds (this process and its reaped children: the workers, and the ``charter``
processes they fork). The slowest files print at the end of the run too.
"""

from __future__ import annotations

import json
import resource
import time
from collections import defaultdict
from pathlib import Path

import pytest

_CURRENT: list[_Timing] = []  # the run being timed, in the controlling process


class _Timing:
    def __init__(self, target: Path) -> None:
        self.target = target
        self.started = time.monotonic()
        self.seconds: dict[str, float] = defaultdict(float)
        self.tests: dict[str, set[str]] = defaultdict(set)
        self.workers: dict[str, float] = defaultdict(float)

    def add(self, report: pytest.TestReport) -> None:
        path = report.nodeid.split("::", 1)[0]
        self.seconds[path] += report.duration
        self.tests[path].add(report.nodeid)
        gateway = getattr(getattr(report, "node", None), "gateway", None)
        self.workers[getattr(gateway, "id", "main")] += report.duration

    def summary(self) -> dict[str, object]:
        def ranked(totals: dict[str, float], counts: dict[str, int]) -> list[dict[str, object]]:
            order = sorted(totals, key=lambda name: -totals[name])
            return [
                {"path": name, "seconds": round(totals[name], 2), "tests": counts[name]}
                for name in order
            ]

        directories: dict[str, float] = defaultdict(float)
        directory_tests: dict[str, int] = defaultdict(int)
        for path, seconds in self.seconds.items():
            directory = "/".join(path.split("/")[:2])
            directories[directory] += seconds
            directory_tests[directory] += len(self.tests[path])
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "wall_seconds": round(time.monotonic() - self.started, 1),
            "cpu_seconds": round(
                own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 1
            ),
            "test_seconds": round(sum(self.seconds.values()), 1),
            # seconds each test process spent in tests: far apart means one sat idle
            "worker_seconds": {k: round(v, 1) for k, v in sorted(self.workers.items())},
            "directories": ranked(directories, directory_tests),
            "files": ranked(self.seconds, {p: len(t) for p, t in self.tests.items()}),
        }


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--timing-json",
        type=Path,
        default=None,
        help="write the seconds spent per test file and directory to this JSON file",
    )


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("--timing-json")
    if target is not None and not hasattr(config, "workerinput"):  # the controller only
        _CURRENT[:] = [_Timing(target)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _CURRENT:
        _CURRENT[0].add(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _CURRENT:
        return
    timing = _CURRENT[0]
    summary = timing.summary()
    timing.target.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    terminalreporter.section("seconds per test file (the slowest 10)")
    for row in summary["files"][:10]:  # type: ignore[index]
        terminalreporter.write_line(f"{row['seconds']:8.1f} s  {row['tests']:4d}  {row['path']}")
    terminalreporter.write_line(
        f"wall {summary['wall_seconds']} s, CPU {summary['cpu_seconds']} s, in tests per "
        f"process {summary['worker_seconds']}; "
        f"written to {timing.target}"
    )
