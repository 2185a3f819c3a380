"""AuthZEN resource search benchmark: "what may this agent do X on?" at 10,000 agents.

One generated estate (``bench/decision_estate.py``: 10,000 agents × 20 rules, 50
org deny rules, 1,000 people, 20 roles), measured in one run:

1. in process: :func:`charter.domain.search.search_resources` plus the page cut,
   for one agent, one of its actions and a system — p50/p95 over ``--requests``
   searches; beside it the named peer, the **naive per-candidate loop**: evaluate
   the same request for every resource id the policy names in that system (every
   rule's pattern and exact resource, as :func:`search_resources` would return
   them), keeping the allowed ones — what a PDP without the agent's index does.
   Both answers are compared (they must be equal);
2. over HTTP: ``charter serve`` (one uvicorn worker) on loopback, the same
   searches posted one at a time to ``/access/v1/search/resource`` — p50/p95 of
   the round trip, each followed by a ``GET /healthz`` on the same connection:
   the floor any request pays on this machine, measured alongside.

    .venv/bin/python bench/authzen_search.py                  # 10,000 agents
    .venv/bin/python bench/authzen_search.py --agents 1000 --requests 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from charter.domain.agent import Agent
from charter.domain.charter import CharterSpec
from charter.domain.compiled import (
    CompiledAgent,
    Snapshot,
    build_snapshot,
    compile_agent,
    gc_paused,
)
from charter.domain.conditions import epoch_micros
from charter.domain.enums import AgentState, PersonStatus
from charter.domain.evaluation import evaluate
from charter.domain.org_policy import parse_org_policy
from charter.domain.patterns import Pattern
from charter.domain.people import Person
from charter.domain.roles import parse_roles
from charter.domain.search import (
    Found,
    Subject,
    SubjectKind,
    search_resources,
    within,
)
from charter.domain.search_paging import page_of, query_digest
from charter.domain.search_vocabulary import Vocabulary, VocabularyIndex, vocabulary
from decision_estate import BASE, Estate, generate
from decisions import CHARTER, ROOT, load_store, percentile, wait_until_healthy

Query = tuple[str, str, str, dict[str, Any]]


def compile_snapshot(estate: Estate) -> tuple[Snapshot, list[CharterSpec]]:
    with gc_paused():
        specs = [CharterSpec.model_validate(c) for c in estate.charters]
    agents = [Agent(s.name, s.owner, AgentState.ACTIVE, s, 1, BASE, BASE) for s in specs]
    people = [
        Person(p["email"], p["name"], PersonStatus(p["status"]), groups=tuple(p["groups"]))
        for p in estate.people
    ]
    snapshot = build_snapshot(
        agents, people, parse_org_policy(estate.org_policy), parse_roles(estate.roles)
    )
    return snapshot, specs


SPECS: dict[str, CharterSpec] = {}


def snapshot_agent(compiled: CompiledAgent) -> Agent:
    """The agent behind a compiled one, to recompile it (what a charter update does)."""
    spec = SPECS[compiled.name]
    return Agent(spec.name, spec.owner, AgentState.ACTIVE, spec, 2, BASE, BASE)


def queries(snapshot: Snapshot, count: int, seed: int = 11) -> list[Query]:
    """(agent, one of its allowed actions, that rule's system, a context) — searches that
    find something, as a PEP listing what an agent may touch would ask."""
    rng = random.Random(seed)
    names = sorted(snapshot.agents)
    out: list[Query] = []
    while len(out) < count:
        compiled = snapshot.agents[rng.choice(names)]
        rule = rng.choice(compiled.allows.rules)
        action = rule.action.pieces[0] if rule.action.is_exact else rule.action.text[:-1] + "read"
        system = rule.resource.pieces[0].partition(":")[0]
        context = {"args": {"amount": 50}, "region": "eu-west-1"}
        out.append((compiled.name, action, system, context))
    return out


def universe(snapshot: Snapshot, known: Vocabulary) -> dict[str, list[str]]:
    """Every resource id the policy names, per system: the naive loop's candidates."""
    ids: dict[str, set[str]] = {system: set(paths) for system, paths in known.resources.items()}
    for compiled in snapshot.agents.values():
        for rule in compiled.allows.rules:
            system = rule.resource.pieces[0].partition(":")[0]
            own = within(rule.resource, f"{system}:")
            if own is not None:
                ids.setdefault(system, set()).add(own)
    return {system: sorted(values) for system, values in ids.items()}


def naive(
    snapshot: Snapshot, candidates: dict[str, list[str]], query: Query, now_us: int
) -> list[str]:
    agent, action, system, context = query
    prefix = f"{system}:"
    return [
        path
        for path in candidates.get(system, ())
        if evaluate(snapshot, agent, action, prefix + path, context, None, now_us).allowed
    ]


def agree(found: list[Found], theirs: list[str]) -> bool:
    """Ours must be among the naive loop's answers, and cover each of them (itself or by a
    pattern: the naive loop also tries other charters' patterns, which ours then cover)."""
    ids = {f.id for f in found}
    patterns = [Pattern(f.id, tuple(f.id.split("*"))) for f in found if f.properties]
    return ids <= set(theirs) and all(
        path in ids or any(p.matches(path) for p in patterns) for path in theirs
    )


def timed(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"p50 {percentile(ordered, 0.5):8.3f} ms   p95 {percentile(ordered, 0.95):8.3f} ms"


def in_process(snapshot: Snapshot, asked: list[Query], now_us: int) -> dict[str, Any]:
    started = time.perf_counter()
    index = VocabularyIndex()
    known = index.of(snapshot)
    vocabulary_ms = (time.perf_counter() - started) * 1000
    assert known == vocabulary(snapshot)
    name, compiled = next(iter(snapshot.agents.items()))
    changed = snapshot.with_changes(agents={name: compile_agent(snapshot_agent(compiled))})
    started = time.perf_counter()
    index.of(changed)
    incremental_ms = (time.perf_counter() - started) * 1000
    key = b"k" * 32
    ours: list[float] = []
    answers: list[list[Found]] = []
    for agent, action, system, context in asked:
        subject = Subject(SubjectKind.AGENT, agent)
        started = time.perf_counter()
        found = search_resources(snapshot, known, subject, action, system, context, None, now_us)
        digest = query_digest({"agent": agent, "action": action, "system": system})
        page_of(found, 0, None, key, digest)
        ours.append((time.perf_counter() - started) * 1000)
        answers.append(found)
    candidates = universe(snapshot, known)
    peer: list[float] = []
    disagree = 0
    for query, found in zip(asked, answers, strict=True):
        started = time.perf_counter()
        theirs = naive(snapshot, candidates, query, now_us)
        peer.append((time.perf_counter() - started) * 1000)
        disagree += not agree(found, theirs)
    return {
        "vocabulary_ms": vocabulary_ms,
        "incremental_ms": incremental_ms,
        "ours": ours,
        "peer": peer,
        "disagree": disagree,
        "results": sum(len(a) for a in answers) / len(answers),
        "candidates": sum(len(v) for v in candidates.values()),
    }


def over_http(home: Path, specs: list[CharterSpec], estate: Estate, asked: list[Query]) -> Any:
    from tests.support.server import charter_env, free_port

    services = load_store(home, estate, specs, BASE)
    bearer = services.auth.keys.add_pep_key("bench", actor="bench").secret
    services.close()
    port = free_port()
    log = open(home / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [CHARTER, "serve", "--port", str(port), "--log-level", "warning"],
        env=charter_env(home),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    samples: list[float] = []
    floor: list[float] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(port, server, home / "server.log", seconds=180)
        headers = {"Authorization": f"Bearer {bearer}"}
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for index, (agent, action, system, context) in enumerate([asked[0], *asked]):
                body = {
                    "subject": {"type": "agent", "id": agent},
                    "action": {"name": action},
                    "resource": {"type": system},
                    "context": context,
                }
                started = time.perf_counter()
                response = client.post("/access/v1/search/resource", json=body)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.text
                if index:  # the first one warms the snapshot and the vocabulary
                    samples.append(elapsed)
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                floor.append((time.perf_counter() - started) * 1000)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        log.close()
    return samples, floor


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # tests.support.server starts the server
    estate = generate(agents=args.agents, requests=1)
    snapshot, specs = compile_snapshot(estate)
    SPECS.update((spec.name, spec) for spec in specs)
    now_us = epoch_micros(BASE + dt.timedelta(hours=1))
    asked = queries(snapshot, args.requests)
    result = in_process(snapshot, asked, now_us)
    print(f"estate: {args.agents:,} agents; {args.requests} resource searches")
    print(
        f"vocabulary: first snapshot {result['vocabulary_ms']:.1f} ms; "
        f"after one agent changed {result['incremental_ms']:.1f} ms"
    )
    print(f"results per search (mean): {result['results']:.1f}")
    print(f"in process, Charter search:            {timed(result['ours'])}")
    print(
        f"in process, naive per-candidate loop:  {timed(result['peer'])}"
        f"   ({result['candidates']:,} candidate ids)"
    )
    ours95 = percentile(sorted(result["ours"]), 0.95)
    peer95 = percentile(sorted(result["peer"]), 0.95)
    print(
        f"ratio naive : Charter (p95): {peer95 / ours95:,.0f}x; disagreements: {result['disagree']}"
    )
    if not args.no_http:
        with tempfile.TemporaryDirectory() as work:
            samples, floor = over_http(Path(work), specs, estate, asked)
        print(f"over HTTP (one worker, loopback):      {timed(samples)}")
        print(f"  same server, GET /healthz (the floor): {timed(floor)}")
        print(
            f"target p95 <= 20 ms: {'met' if percentile(sorted(samples), 0.95) <= 20 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
