"""bench/tokens.py --markdown: one table, the algorithms side by side, every row filled."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_tokens", ROOT / "bench" / "tokens.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_tokens"] = module
    spec.loader.exec_module(module)
    return module


def test_the_table_puts_ours_beside_the_peers_and_the_targets() -> None:
    bench = _bench()
    issued = {
        "issued/s in-process (1 thread)": (500.0, 700.0),
        "issued/s in-process (16 threads)": (1100.0, 1900.0),
    }
    http = {"issued/s over HTTP (1 worker)": (1200.0, 1600.0)}
    verified = {
        "verified/s (distinct tokens)": (1000.0, 900.0, 1100.0, 1000.0),
        "verified/s (cached tokens)": (1000.0, 200000.0, 1100.0, 400000.0),
        "PyJWT decode/s": (1000.0, 600.0, 1100.0, 700.0),
        "joserfc decode/s": (1000.0, 500.0, 1100.0, 650.0),
    }
    column = bench._column(issued, http, verified, 90.0, 10.0)
    slower = bench._column(
        issued, {"issued/s over HTTP (1 worker)": (900.0, 1400.0)}, verified, 60.0, 8.0
    )
    table = bench.markdown_table({"EdDSA": column, "ES256": slower}).splitlines()
    assert table[0] == "| | EdDSA | ES256 |" and table[1] == "|---|---|---|"
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in table[2:]}
    assert rows[bench.ISSUED_HTTP].endswith("| **1,600** (met) | **1,400** (missed) |")
    assert "**90%** (900 vs 1,000/s)" in rows[bench.VERIFIED]
    assert rows["peers: PyJWT / joserfc, paired, of raw"].endswith("| 60% / 50% | 60% / 50% |")
    assert "1,900" in rows["peer: issued/s in-process from 16 threads, per CPU-second"]
    assert all(line.count("|") == 4 for line in table)
