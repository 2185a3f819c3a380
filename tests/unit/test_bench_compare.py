"""bench/compare_commits.py reads every benchmark's printed figures, and judges them by the noise.

The samples are excerpts of what the scripts print: the comparison parses their output
(an older commit's copy of a script has no other way to hand its figures over), so a
change to a script's layout has to keep these passing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        import compare_commits
    finally:
        sys.path.remove(str(BENCH))
    return compare_commits


@pytest.fixture(scope="module")
def figures(compare: ModuleType) -> ModuleType:
    return sys.modules["compare_figures"]


def test_every_benchmark_is_compared(figures: ModuleType) -> None:
    helpers = {
        "compare_commits.py",
        "compare_figures.py",
        "scan_corpus.py",
        "cluster_figures.py",
        "decision_cedar.py",
        "decision_estate.py",
        "decision_people.py",
        "http_load.py",
        "posture_estate.py",
        "update_docs.py",
    }
    scripts = {p.name for p in BENCH.glob("*.py")} - helpers
    assert {Path(b.script).name for b in figures.BENCHES} == scripts


def test_arguments_fill_in_the_work_directory_and_widen_databases(figures: ModuleType) -> None:
    posture = next(b for b in figures.BENCHES if b.name == "posture")
    args = figures.arguments(posture, quick=False, postgres=True, work=Path("/w"))
    assert args[args.index("--databases") + 1] == "sqlite,postgres"
    assert args[args.index("--keep") + 1] == "/w/posture"


def _parse(figures: ModuleType, name: str, out: str) -> dict[str, tuple[float, bool]]:
    bench = next(b for b in figures.BENCHES if b.name == name)
    return {figure: (value, higher) for figure, value, higher in bench.parse(out)}


def test_registry_and_audit_chain(figures: ModuleType) -> None:
    registry = _parse(
        figures,
        "registry",
        "\n== sqlite: 1000 agents, 100000 audit events, batches of 10000\n"
        "  register/s                                          296.5\n"
        "  verify 1M (s, extrapolated)                           9.3\n"
        "  events                                          100,000.0\n"
        "  peer: raw sha256 hashes/s                     1,124,511.5\n"
        "  append vs raw insert (ratio)                         0.15\n",
    )
    assert registry == {
        "sqlite: register/s": (296.5, True),
        "sqlite: peer: raw sha256 hashes/s": (1124511.5, True),
    }
    chain = _parse(
        figures,
        "audit_chain",
        "  peer: legacy SHA-256      424,780 rows/s   keyed HMAC-SHA256      311,644 rows/s\n"
        "  peer: legacy SHA-256      472,772 rows/s   keyed HMAC-SHA256      355,576 rows/s\n",
    )
    assert chain["keyed HMAC-SHA256 verify rows/s"] == (355576, True)


def test_tokens(figures: ModuleType) -> None:
    tokens = _parse(
        figures,
        "tokens",
        "ES256 issuance                         per second  per CPU-second\n"
        "  issued/s in-process (1 thread)              194             461\n"
        "ES256 verification                         paired   of raw      block   of raw\n"
        "  verified/s (distinct tokens)              2,491    71.7%      3,260    78.6%\n"
        "  PyJWT decode/s                            2,159    54.5%      2,221    53.5%\n"
        "  raw cryptography verify/s                 3,474               4,148\n"
        "  on an idle core (minima): raw verify 172.0 µs (JWS check incl. DER), verifier "
        "without it 10.9 µs → 94% of raw\n",
    )
    assert tokens["ES256 issued/s in-process (1 thread) per CPU-s"] == (461, True)
    assert tokens["ES256 verified/s (distinct tokens) block"] == (3260, True)
    assert tokens["ES256 peer: PyJWT decode/s paired"] == (2159, True)
    assert tokens["ES256 peer: raw cryptography verify/s block"] == (4148, True)
    assert tokens["ES256 verifier overhead µs (minimum)"] == (10.9, False)


def test_decisions(figures: ModuleType) -> None:
    decisions = _parse(
        figures,
        "decisions",
        "compile\n"
        "  compile into the index                         1.16 s wall, 0.70 s CPU   (target)\n"
        "  memory kept by the index / peak while parsing + compiling 37 MB / 68 MB\n"
        "\nin-process: evaluate(snapshot, …)\n"
        "  p50 / p99 / p99.9                              6.73 / 41.45 / 4050.3 µs\n"
        "\nin-process: DecisionService.decide (charter.decide), recording activity to SQLite\n"
        "  p50 / p99                                      18.02 / 142.80 µs\n"
        "  decisions/s (wall) / CPU per decision incl. writing it 8,708 / 47.5 µs\n"
        "\nAuthZEN over HTTP (one uvicorn worker, loopback, load from another process)\n"
        "  single evaluations (4,000, 16 connections)     629/s   (target ≥ 2,000/s)  statuses\n"
        "  per second of the server's own CPU: single / batched 2,051 / 12,821   (what one)\n",
    )
    assert decisions["compile: compile into the index CPU s"] == (0.70, False)
    assert decisions["compile: index MB"] == (37, False)
    assert decisions["evaluate: p50 µs"] == (6.73, False)
    assert decisions["decide: p99 µs"] == (142.80, False)
    assert decisions["decide: CPU µs per decision"] == (47.5, False)
    assert decisions["AuthZEN: single evaluations/s"] == (629, True)
    assert decisions["AuthZEN: batched per server CPU-s"] == (12821, True)


def test_estate_console_posture_scan_gateway(figures: ModuleType) -> None:
    estate = _parse(
        figures,
        "estate",
        "first ingest         23.8 s   (CPU 7.3 s; 4,631 identities+credentials/s)\n"
        "blast radius     p50    7.7 ms  p95   19.9 ms  (shadow agent, 50 queries)\n"
        "peer: raw executemany of the same rows   34.3 s  (Charter's ingest is 0.7×)\n",
    )
    assert estate == {
        "first ingest wall s": (23.8, False),
        "first ingest CPU s": (7.3, False),
        "blast radius p50 ms (shadow agent)": (7.7, False),
        "peer: raw executemany s": (34.3, False),
    }
    console = _parse(
        figures,
        "console",
        "/agents/llm-workload-0-0000107                               4380.6   4547.1  200\n"
        "/agents/agent-000/decommission                                237.4    362.6  200\n"
        "peer: SELECT count(*) FROM credentials                          1.5\n",
    )
    assert console == {
        "/agents/<shadow agent> p50 ms": (4380.6, False),
        "/agents/agent-000/decommission p50 ms": (237.4, False),
        "peer: SELECT count(*) FROM credentials ms": (1.5, False),
    }
    posture = _parse(
        figures,
        "posture",
        "== sqlite\n"
        "  load identities (2,000 rows) s                     0.31\n"
        "  cold evaluation s                                 19.28\n"
        "  cold evaluation CPU s (this process)               2.63\n"
        '  counts                                       {"agents": 200}\n',
    )
    assert posture == {
        "sqlite: cold evaluation s": (19.28, False),
        "sqlite: cold evaluation CPU s (this process)": (2.63, False),
    }
    scan = _parse(
        figures,
        "scan",
        "charter --jobs 1        20.0     6.07     3.3     1.05      19.0  100.00%    100.00%\n"
        "charter (memory)        10.0     3.07     3.3     0.55      19.0  100.00%    100.00%\n"
        "gitleaks                20.0     9.50     2.1     9.00       2.2   99.00%     40.00%\n",
    )
    assert scan == {
        "charter --jobs 1 wall s": (6.07, False),
        "charter --jobs 1 CPU s": (1.05, False),
        "peer: gitleaks wall s": (9.50, False),
        "peer: gitleaks CPU s": (9.00, False),
    }
    gateway = _parse(
        figures,
        "gateway",
        "direct to upstream (peer)       3.792   11.269       238                 267\n"
        "through charter gateway         7.603   24.472       111                 101\n"
        "gateway adds 3.811 ms at p50, 13.203 ms at p99 (authenticate + decide)\n",
    )
    assert gateway["peer: direct p50 ms"] == (3.792, False)
    assert gateway["gateway concurrent calls/s"] == (101, True)
    assert gateway["gateway added p50 ms"] == (3.811, False)
    assert gateway["gateway added p99 ms"] == (13.203, False)
    with_cpu = _parse(
        figures,
        "gateway",
        "direct to upstream (peer)       1.847   14.357       426                 461"
        "                 812\n"
        "through charter gateway         3.190   19.227       224                 158"
        "                 655\n",
    )
    assert with_cpu["peer: direct server CPU us/call"] == (812, False)
    assert with_cpu["gateway server CPU us/call"] == (655, False)
    assert with_cpu["gateway p50 ms"] == (3.19, False)
    held = _parse(
        figures,
        "gateway",
        "gateway adds 0.900 ms at p50 (meets the 1 ms target), 2.500 ms "
        "at p99 (meets the 3 ms target) (authenticate + decide)\n"
        "1000 of 1000 idle agent connections held (session + GET stream, opened in 12.1 s); "
        "gateway RSS 118.4 MiB -> 214.1 MiB: 97.9 KiB per idle connection; a call meanwhile\n",
    )
    assert held == {
        "gateway added p50 ms": (0.9, False),
        "gateway added p99 ms": (2.5, False),
        "gateway KiB per idle connection": (97.9, False),
    }
    auth = _parse(
        figures,
        "gateway_auth",
        "gateway authorization hot path, 20000 requests each, load average 11.9\n"
        "resource server                        38.2 us\n"
        "decide (compiled snapshot)              3.3 us\n"
        "per tools/call, all of the above       61.5 us\n",
    )
    assert auth == {
        "resource server us": (38.2, False),
        "decide (compiled snapshot) us": (3.3, False),
        "per tools/call, all of the above us": (61.5, False),
    }


def test_verdict_is_judged_by_the_spread_between_rounds(compare: ModuleType) -> None:
    assert compare.spread([90.0, 100.0, 110.0]) == pytest.approx(0.2)
    assert compare.verdict(1.15, 0.2, True, 3) == "="
    assert compare.verdict(1.3, 0.2, True, 3) == "faster"
    assert compare.verdict(1.3, 0.2, False, 3) == "SLOWER"
    assert compare.verdict(0.7, 0.2, True, 3) == "SLOWER"
    assert compare.verdict(0.7, 0.0, True, 1) == "?"
    assert compare.verdict(float("nan"), 0.2, False, 3) == "?"


def test_authzen_search_rows_are_read_with_their_peers(figures: ModuleType) -> None:
    out = (
        "in process, Charter search:            p50    0.043 ms   p95    0.082 ms\n"
        "in process, naive per-candidate loop:  p50    0.048 ms   p95    0.087 ms   (270 ids)\n"
        "over HTTP (one worker, loopback):      p50    1.924 ms   p95    2.550 ms\n"
        "  same server, GET /healthz (the floor): p50    2.595 ms   p95    3.237 ms\n"
    )
    read = {name: (value, higher) for name, value, higher in figures.authzen_search(out)}
    assert read["in process p95 ms"] == (0.082, False)
    assert read["peer: naive per-candidate loop p50 ms"] == (0.048, False)
    assert read["over HTTP p95 ms"] == (2.55, False)
    assert read["peer: GET /healthz p95 ms"] == (3.237, False)
    assert len(read) == 8


def test_ssf(figures: ModuleType) -> None:
    out = """== sqlite: 60 transitions, 3 push streams, 3000 decisions (load average 1.0 1.0 1.0)
  peer: transition without streams p50 ms          5.97
  transition with 3 streams, outbox only p50 ms    13.20
  ratio outbox only/without streams                2.21
  SET delivered after commit p50 ms                71.10
  SETs delivered                                   90.00
  OCSF events exported/s                           3,129.35
  peer: plain JSON lines per CPU-s                 59,367.86
load average at end 12.47 15.08 14.04
"""
    parsed = _parse(figures, "ssf", out)
    assert parsed["transition with 3 streams, outbox only p50 ms"] == (13.20, False)
    assert parsed["OCSF events exported/s"] == (3129.35, True)
    assert parsed["peer: plain JSON lines per CPU-s"] == (59367.86, True)
    assert "SETs delivered" not in parsed and "ratio outbox only/without streams" not in parsed


def test_authzen_http_reads_each_server_and_the_floor(figures: ModuleType) -> None:
    out = (
        "  floor (Starlette, constant) single: 10,000 per server CPU-s   (wall 1,895/s; …)\n"
        "  floor (Starlette, constant) batched: 250,000 per server CPU-s   (wall 47,435/s)\n"
        "  Charter, SQLite single: 2,532 per server CPU-s   (wall 715/s; 395.0 µs CPU)\n"
        "  Charter, PostgreSQL batched: 28,169 per server CPU-s   (wall 4,307/s)\n"
        "  Charter, SQLite: 24,001 of 24,001 decisions recorded; 0 disagree\n"
    )
    read = {name: (value, higher) for name, value, higher in figures.authzen_http(out)}
    assert read == {
        "peer: floor single per CPU-s": (10_000, True),
        "peer: floor batched per CPU-s": (250_000, True),
        "Charter, SQLite single per CPU-s": (2_532, True),
        "Charter, PostgreSQL batched per CPU-s": (28_169, True),
    }


def test_propagation_and_serve_workers(figures: ModuleType) -> None:
    propagation = _parse(
        figures,
        "propagation",
        "20 suspensions, 3 replicas on one PostgreSQL; load avg 15.1 at start, 17.6 at end\n"
        "                                          p50 ms    p99 ms    max ms\n"
        "  suspension → every replica                79.8    1505.1    1505.1\n"
        "  suspension → one replica                  68.9     132.6    1505.1\n"
        "  peer: one evaluation round trip           21.7      63.6      79.1\n"
        "  peer: safety net alone (interval)                             5000\n",
    )
    assert propagation["suspension → every replica p99 ms"] == (1505.1, False)
    assert propagation["peer: one evaluation round trip p50 ms"] == (21.7, False)
    assert len(propagation) == 6
    workers = _parse(
        figures,
        "serve_workers",
        "5000 single evaluations per run, 32 in flight, 1 round(s); load avg 19.2 at start\n"
        "                               evals/s   CPU µs/eval\n"
        "  peer: --workers 1              1,667           210\n"
        "  --workers 2                    2,763           274\n"
        "  2 workers / 1 worker: 1.66 (best 1.66x, target 1.7x)\n",
    )
    assert workers == {
        "peer: 1 worker evaluations/s": (1667, True),
        "peer: 1 worker server CPU µs per evaluation": (210, False),
        "2 workers evaluations/s": (2763, True),
        "2 workers server CPU µs per evaluation": (274, False),
        "2 workers / 1 worker": (1.66, True),
    }
