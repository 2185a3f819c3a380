"""Decision benchmark: Charter's PDP in-process, over AuthZEN HTTP, and cedarpy, on one estate.

One generated estate (default: 10,000 agents × 20 rules, 50 org deny rules,
10,000 people, 20 roles) and one list of 100,000 requests (about
half allowed; 20 % on behalf of a person), measured in one run:

1. compile: charters parsed, then compiled into the index (time, memory);
2. in-process: ``evaluate`` on the compiled snapshot — p50/p99 and decisions/s;
   people as subjects (resolved by e-mail or external id, decided by their
   roles, a sample checked against cedarpy);
   and ``DecisionService.decide`` (what ``charter.decide`` calls) with activity
   recording on, from a SQLite store;
3. cedarpy (``bench/decision_cedar.py``), on a sample of the requests
   (``--cedar-sample``, evenly spread), decisions checked against ours: on each
   agent's slice (its charter, the org policy, its delegator's roles: what a Cedar
   deployment evaluates; the headline ratio), and on the whole export;
4. the AuthZEN endpoint: ``charter serve`` (one uvicorn worker) on loopback,
   load from a separate process (``bench/http_load.py``): single evaluations,
   then batches of ``--batch`` evaluations. Decisions are checked against ours,
   and the activity log is counted after a clean shutdown (none may be lost).

    .venv/bin/python bench/decisions.py            # full size
    .venv/bin/python bench/decisions.py --agents 1000 --requests 20000 --http-single 5000
    .venv/bin/python bench/decisions.py --skip-http --markdown   # the table on stdout

Figures published for other engines (measured elsewhere, on other hardware) are
printed beside ours with their source (``decision_cedar.PUBLISHED``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from charter.config import Settings
from charter.domain.agent import Agent
from charter.domain.charter import CharterSpec
from charter.domain.compiled import Snapshot, build_snapshot, gc_paused
from charter.domain.conditions import epoch_micros
from charter.domain.enums import AgentState, PersonStatus
from charter.domain.evaluation import evaluate
from charter.domain.org_policy import parse_org_policy
from charter.domain.people import Person
from charter.domain.roles import parse_roles
from charter.services.context import Services
from charter.services.people import PersonRecord
from charter.store import schema
from charter.store.versions import bump_version
from decision_cedar import line, markdown, percentile, report
from decision_estate import Estate, generate
from decision_people import cedar_people, in_process_people, person_requests

ROOT = Path(__file__).resolve().parent.parent
CHARTER = str(Path(sys.executable).parent / "charter")


def wait_until_healthy(
    port: int, server: subprocess.Popen[bytes], log: Path, *, seconds: float
) -> None:
    """Poll ``/healthz`` until the server answers; its log's tail if it dies or never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError(log.read_text()[-2000:])
        time.sleep(0.2)


def compile_estate(
    estate: Estate, now: dt.datetime
) -> tuple[Snapshot, list[CharterSpec], dict[str, Any]]:
    wall, cpu = time.perf_counter(), time.process_time()
    with gc_paused():  # as the decision service loads (see domain/compiled.py)
        specs = [CharterSpec.model_validate(c) for c in estate.charters]
    parsed = (time.perf_counter() - wall, time.process_time() - cpu)
    agents = [Agent(s.name, s.owner, AgentState.ACTIVE, s, 1, now, now) for s in specs]
    people = [
        Person(
            p["email"],
            p["name"],
            PersonStatus(p["status"]),
            groups=tuple(p["groups"]),
            external_ids=tuple(p.get("external_ids", ())),
        )
        for p in estate.people
    ]
    org, roles = parse_org_policy(estate.org_policy), parse_roles(estate.roles)
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    snapshot = build_snapshot(agents, people, org, roles)
    compiled = (time.perf_counter() - wall, time.process_time() - cpu)
    del agents
    # again, under tracemalloc: what the index keeps, and the peak of building it
    tracemalloc.start()
    with gc_paused():
        again_specs = [CharterSpec.model_validate(c) for c in estate.charters]
    again_agents = [Agent(s.name, s.owner, AgentState.ACTIVE, s, 1, now, now) for s in again_specs]
    again = build_snapshot(again_agents, people, org, roles)
    peak = tracemalloc.get_traced_memory()[1]
    del again_agents, again_specs
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del again
    return (
        snapshot,
        specs,
        {
            "parse_s": parsed[0],
            "parse_cpu_s": parsed[1],
            "compile_s": compiled[0],
            "compile_cpu_s": compiled[1],
            "index_mb": kept / 1e6,
            "peak_mb": peak / 1e6,
        },
    )


def in_process(snapshot: Snapshot, requests: list[Any], now_us: int) -> dict[str, Any]:
    gc.freeze()  # as DecisionService does after publishing a snapshot (see services/decisions.py)
    for request in requests[:2000]:
        evaluate(snapshot, *request, now_us)
    started = time.process_time()
    allowed = [evaluate(snapshot, *request, now_us).allowed for request in requests]
    cpu = time.process_time() - started
    clock = time.perf_counter_ns
    latencies = []
    for agent, action, resource, context, on_behalf_of in requests:
        begin = clock()
        evaluate(snapshot, agent, action, resource, context, on_behalf_of, now_us)
        latencies.append((clock() - begin) / 1000)
    latencies.sort()
    return {
        "p50_us": percentile(latencies, 0.5),
        "p99_us": percentile(latencies, 0.99),
        "p999_us": percentile(latencies, 0.999),
        "per_s": len(requests) / cpu,
        "allowed_share": sum(allowed) / len(allowed),
        "decisions": allowed,
    }


def load_store(
    home: Path,
    estate: Estate,
    specs: list[CharterSpec],
    now: dt.datetime,
    database_url: str | None = None,
) -> Services:
    """A store (SQLite unless ``database_url``) holding the estate: people and policy through
    the services, agents in bulk."""
    url = database_url or f"sqlite:///{home}/charter.db"
    services = Services.from_settings(Settings(home=home, database_url=url))
    services.people.import_records(
        [PersonRecord.model_validate(p) for p in estate.people], actor="bench"
    )
    with services.db.write() as connection:  # bulk: 10,000 registrations one by one take minutes
        connection.execute(
            sa.insert(schema.agents),
            [
                {
                    "name": s.name,
                    "owner": s.owner,
                    "state": "active",
                    "charter_version": 1,
                    "purpose": s.purpose,
                    "environment": s.environment,
                    "labels": {},
                    "expires": s.expires,
                    "origin": "registered",
                    "created_at": now,
                    "updated_at": now,
                }
                for s in specs
            ],
        )
        connection.execute(
            sa.insert(schema.charter_versions),
            [
                {
                    "agent": s.name,
                    "version": 1,
                    "document": s.document(),
                    "created_at": now,
                    "created_by": "bench",
                    "reason": "bench",
                }
                for s in specs
            ],
        )
        bump_version(connection, "charters")
    services.decisions.apply_policy(
        parse_org_policy(estate.org_policy), actor="bench", source="bench"
    )
    services.decisions.apply_roles(parse_roles(estate.roles), actor="bench", source="bench")
    services.decisions.close()  # this process only loads; the measured services are separate
    return services


def service_level(home: Path, requests: list[Any]) -> dict[str, Any]:
    services = Services.from_settings(
        Settings(home=home, database_url=f"sqlite:///{home}/charter.db")
    )
    decisions = services.decisions
    started, cpu = time.perf_counter(), time.process_time()
    decisions.snapshot()
    load, load_cpu = time.perf_counter() - started, time.process_time() - cpu
    clock = time.perf_counter_ns
    latencies = []
    started, cpu = time.perf_counter(), time.process_time()
    for agent, action, resource, context, on_behalf_of in requests:
        begin = clock()
        decisions.decide(agent, action, resource, context=context, on_behalf_of=on_behalf_of)
        latencies.append((clock() - begin) / 1000)
    elapsed = time.perf_counter() - started
    flush_started = time.perf_counter()
    decisions.close()
    flush = time.perf_counter() - flush_started
    process_cpu = time.process_time() - cpu  # deciding and the writer thread, to the last row
    with services.db.read() as connection:
        rows = connection.execute(sa.text("SELECT count(*) FROM activities")).scalar_one()
    services.close()
    latencies.sort()
    return {
        "load_s": load,
        "load_cpu_s": load_cpu,
        "p50_us": percentile(latencies, 0.5),
        "p99_us": percentile(latencies, 0.99),
        "per_s": len(requests) / elapsed,
        "cpu_us": process_cpu / len(requests) * 1e6,
        "flush_s": flush,
        "recorded": rows,
    }


def authzen_body(
    agent: str, action: str, resource: str, context: dict[str, Any], on_behalf_of: str | None
) -> dict[str, Any]:
    system, _, path = resource.partition(":")
    subject: dict[str, Any] = {"type": "agent", "id": agent}
    if on_behalf_of:
        subject["properties"] = {"on_behalf_of": on_behalf_of}
    return {
        "subject": subject,
        "action": {"name": action},
        "resource": {"type": system, "id": path},
        "context": context,
    }


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used:
    a measure the machine's load does not skew.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(
    port: int, bearer: str, bodies: list[bytes], concurrency: int, path: str, work: Path
) -> dict[str, Any]:
    requests_file, out_file = work / "bodies.jsonl", work / "out.json"
    requests_file.write_bytes(b"\n".join(bodies) + b"\n")
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "http_load.py"),
            str(port),
            bearer,
            str(requests_file),
            str(concurrency),
            path,
            str(out_file),
        ],
        check=True,
    )
    result: dict[str, Any] = json.loads(out_file.read_text())
    return result


def http(
    home: Path, services: Services, requests: list[Any], ours: list[bool], args: argparse.Namespace
) -> dict[str, Any]:
    from tests.support.server import charter_env, free_port

    bearer = services.auth.keys.add_pep_key("bench", actor="bench").secret
    port = free_port()
    env = charter_env(home)
    log = open(home / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [CHARTER, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    out: dict[str, Any] = {}
    try:
        wait_until_healthy(port, server, home / "server.log", seconds=120)
        warm = httpx.post(
            f"http://127.0.0.1:{port}/access/v1/evaluation",
            headers={"Authorization": f"Bearer {bearer}"},
            json=authzen_body(*requests[0]),
            timeout=120,
        )
        assert warm.status_code == 200, warm.text
        singles = requests[: args.http_single]
        bodies = [json.dumps(authzen_body(*r)).encode() for r in singles]
        cpu = process_cpu(server.pid)
        result = run_load(port, bearer, bodies, args.concurrency, "/access/v1/evaluation", home)
        out["single_cpu_per_s"] = len(singles) / (process_cpu(server.pid) - cpu)
        out["single_per_s"] = len(singles) / result["elapsed"]
        out["single_statuses"] = result["statuses"]
        out["single_disagree"] = sum(
            a != b for a, b in zip(result["decisions"], ours, strict=False)
        )
        batches = [
            json.dumps(
                {"evaluations": [authzen_body(*r) for r in requests[i : i + args.batch]]}
            ).encode()
            for i in range(0, len(requests), args.batch)
        ]
        cpu = process_cpu(server.pid)
        result = run_load(port, bearer, batches, 2, "/access/v1/evaluations", home)
        out["batched_cpu_per_s"] = len(requests) / (process_cpu(server.pid) - cpu)
        out["batched_per_s"] = len(requests) / result["elapsed"]
        out["batched_statuses"] = result["statuses"]
        out["batched_disagree"] = sum(
            a != b for a, b in zip(result["decisions"], ours, strict=True)
        )
        out["http_decisions"] = len(singles) + len(requests) + 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        log.close()
    with services.db.read() as connection:
        out["recorded"] = connection.execute(
            sa.text("SELECT count(*) FROM activities WHERE source = 'authzen'")
        ).scalar_one()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument(
        "--cedar-sample", type=int, default=200, help="requests for cedarpy (at most)"
    )
    parser.add_argument("--cedar-seconds", type=float, default=90, help="time budget for cedarpy")
    parser.add_argument("--http-single", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-cedar", action="store_true")
    parser.add_argument(
        "--markdown", action="store_true", help="also print the figure table as Markdown"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    shown = sys.stdout
    if args.markdown:  # the table alone on stdout (bench/update_docs.py), the rest on stderr
        sys.stdout = sys.stderr
    now = dt.datetime.now(dt.UTC)
    now_us = epoch_micros(now)
    print(
        f"Charter decision benchmark — {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at start, Python {sys.version.split()[0]}"
    )
    estate = generate(agents=args.agents, people=args.people, requests=args.requests)
    snapshot, specs, compiled = compile_estate(estate, now)
    rules = sum(len(a.allows) + len(a.denies) for a in snapshot.agents.values())
    print(
        f"\nestate: {args.agents:,} agents ({rules:,} rules), {len(estate.org_policy['deny'])} org "
        f"deny rules, {len(estate.people):,} people, {len(estate.roles['roles'])} roles; "
        f"{len(estate.requests):,} requests"
    )
    print("\ncompile")
    line(
        "parse charters (pydantic, from documents)",
        f"{compiled['parse_s']:.2f} s wall, {compiled['parse_cpu_s']:.2f} s CPU",
    )
    line(
        "compile into the index",
        f"{compiled['compile_s']:.2f} s wall, "
        f"{compiled['compile_cpu_s']:.2f} s CPU   (target < 2 s)",
    )
    line(
        "memory kept by the index / peak while parsing + compiling",
        f"{compiled['index_mb']:.0f} MB / {compiled['peak_mb']:.0f} MB   (target < 300 MB)",
    )
    ours = in_process(snapshot, estate.requests, now_us)
    print("\nin-process: evaluate(snapshot, …)")
    line(
        "p50 / p99 / p99.9",
        f"{ours['p50_us']:.2f} / {ours['p99_us']:.2f} / {ours['p999_us']:.1f} µs"
        "   (target p50 ≤ 3, p99 ≤ 15 µs)",
    )
    line("decisions/s (one thread, CPU time)", f"{ours['per_s']:,.0f}")
    line("allowed", f"{ours['allowed_share']:.1%}")
    asked = person_requests(estate, min(len(estate.requests), 50_000))
    persons = in_process_people(snapshot, asked, now_us)
    print("\nin-process: people as subjects (resolve by e-mail or external id, then their roles)")
    line(
        "p50 / p99",
        f"{persons['p50_us']:.2f} / {persons['p99_us']:.2f} µs   (target p50 ≤ 5 µs)",
    )
    line("allowed", f"{persons['allowed_share']:.1%}")
    if not args.skip_cedar:
        theirs_people = cedar_people(
            snapshot, asked, persons["decisions"], args.cedar_sample, now_us, args.cedar_seconds
        )
        line(
            f"cedarpy, sample of {theirs_people['sample']}: p50 / disagreements / errors",
            f"{theirs_people['p50_us']:,.0f} µs / {theirs_people['disagree']} / "
            f"{theirs_people['errors']}   ({theirs_people['p50_us'] / persons['p50_us']:,.0f}× "
            "slower than Charter)",
        )
    with tempfile.TemporaryDirectory(prefix="charter-bench-") as work:
        home = Path(work)
        services = load_store(home, estate, specs, now)
        service = service_level(home, estate.requests)
        print("\nin-process: DecisionService.decide (charter.decide), recording activity to SQLite")
        line(
            "cold load of the store into a snapshot",
            f"{service['load_s']:.2f} s wall, {service['load_cpu_s']:.2f} s CPU",
        )
        line("p50 / p99", f"{service['p50_us']:.2f} / {service['p99_us']:.2f} µs")
        line(
            "decisions/s (wall) / CPU per decision incl. writing it",
            f"{service['per_s']:,.0f} / {service['cpu_us']:.1f} µs",
        )
        line(
            "activity rows after close()",
            f"{service['recorded']:,} of {len(estate.requests):,} "
            f"(flush {service['flush_s']:.2f} s)",
        )
        theirs = {} if args.skip_cedar else report(snapshot, estate.requests, ours, args, now_us)
        if not args.skip_http:
            web = http(home, services, estate.requests, ours["decisions"], args)
            print("\nAuthZEN over HTTP (one uvicorn worker, loopback, load from another process)")
            line(
                f"single evaluations ({args.http_single:,}, {args.concurrency} connections)",
                f"{web['single_per_s']:,.0f}/s   (target ≥ 2,000/s)  statuses "
                f"{web['single_statuses']}",
            )
            line(
                f"batched ({args.batch:,} per request)",
                f"{web['batched_per_s']:,.0f} decisions/s   (target ≥ 100,000/s)  statuses "
                f"{web['batched_statuses']}",
            )
            line(
                "per second of the server's own CPU: single / batched",
                f"{web['single_cpu_per_s']:,.0f} / {web['batched_cpu_per_s']:,.0f}   "
                "(what one worker does with a core to itself)",
            )
            line(
                "disagreements with in-process",
                f"{web['single_disagree']} single, {web['batched_disagree']} batched",
            )
            line(
                "activity rows after clean shutdown",
                f"{web['recorded']:,} of {web['http_decisions']:,} decisions",
            )
            line("ratio: in-process vs HTTP single", f"{ours['per_s'] / web['single_per_s']:,.0f}×")
            line(
                "ratio: in-process vs HTTP batched", f"{ours['per_s'] / web['batched_per_s']:,.1f}×"
            )
        services.close()
    load = os.getloadavg()[0]
    print(f"\nload average at end: {load:.1f}")
    if args.markdown:
        sys.stdout = shown
        markdown(ours, service, theirs, load)


if __name__ == "__main__":
    main()
