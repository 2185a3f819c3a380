"""bench/scan.py runs small: corpus, answer key, both scanners, figures (not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
    answers = json.loads((tmp_path / "corpus.answers.json").read_text())
    assert len(answers["planted"]) == charter["planted"]
