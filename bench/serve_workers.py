"""AuthZEN single evaluations over HTTP: ``charter serve --workers 2`` against one worker.

One store (SQLite, the single-node default; ``--database-url`` for another),
``--agents`` active agents and a PEP key. Each round starts ``charter serve``
with one worker, then with two, drives each with ``bench/http_load.py`` (its own
process: keep-alive connections, ``--concurrency`` in flight, single
``/access/v1/evaluation`` requests) and stops it. The figure is the ratio of the
two in the same round; the best round of each is printed, with the server's own
CPU per evaluation (its processes' user + system time, which the machine's load
does not inflate) and the load average.

    python bench/serve_workers.py --requests 20000 --rounds 2 [--markdown]

The load generator needs a core of its own to keep two workers busy: on a
two-core machine it competes with them, so the ratio there is a floor.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import free_port  # noqa: E402

from charter.config import Settings  # noqa: E402
from charter.domain.charter_parsing import load_document, parse_charter  # noqa: E402
from charter.domain.lifecycle import Transition  # noqa: E402
from charter.services.context import Services  # noqa: E402
from charter.services.people import PersonRecord  # noqa: E402

CHARTER = str(Path(sys.executable).parent / "charter")
OWNER = "maria.garcia@acme.example"
ACTIONS = ("read_ticket", "send_email", "delete_table")


def charter(name: str) -> str:
    return f"""
name: {name}
owner: {OWNER}
purpose: Asked about by the serve-workers benchmark, one evaluation per request.
allow:
  - action: read_ticket
    resource: "helpdesk:tools/read_ticket"
  - action: send_email
    resource: "helpdesk:tools/send_email"
deny:
  - action: delete_table
    resource: "*"
"""


def prepare(env: dict[str, str], agents: int) -> str:
    services = Services.from_settings(Settings.from_env(env))
    try:
        services.people.import_records([PersonRecord(email=OWNER, name="Maria")], actor="bench")
        for index in range(agents):
            spec = parse_charter(load_document(charter(f"load-{index:04d}")))
            services.registry.register(spec, actor="bench")
            services.registry.transition(
                spec.name, Transition.ACTIVATE, actor="bench", reason="bench"
            )
        return services.auth.keys.add_pep_key("bench", actor="bench").secret
    finally:
        services.close()


def bodies(agents: int, count: int) -> list[bytes]:
    chooser = random.Random(7)
    out = []
    for _ in range(count):
        action = chooser.choice(ACTIONS)
        out.append(
            json.dumps(
                {
                    "subject": {"type": "agent", "id": f"load-{chooser.randrange(agents):04d}"},
                    "action": {"name": action},
                    "resource": {"type": "helpdesk", "id": f"tools/{action}"},
                }
            ).encode()
        )
    return out


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live children (the uvicorn workers)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load(port: int, bearer: str, requests: Path, concurrency: int, out: Path) -> dict[str, Any]:
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "http_load.py"),
            str(port),
            bearer,
            str(requests),
            str(concurrency),
            "/access/v1/evaluation",
            str(out),
        ],
        check=True,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def one_server(
    env: dict[str, str], workers: int, bearer: str, work: Path, concurrency: int
) -> dict[str, float]:
    port = free_port()
    log = work / f"serve-{workers}.log"
    command = [CHARTER, "serve", "--port", str(port), "--workers", str(workers)]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [*command, "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise RuntimeError(log.read_text(errors="replace")[-2000:])
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("charter serve did not answer within 120 s")
            time.sleep(0.1)
        load(port, bearer, work / "warm.jsonl", concurrency, work / "warm.json")
        cpu_before = tree_cpu(server.pid)
        result = load(port, bearer, work / "bodies.jsonl", concurrency, work / "out.json")
        cpu = tree_cpu(server.pid) - cpu_before
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    statuses = result["statuses"]
    if set(statuses) != {"200"}:
        raise RuntimeError(f"answers other than 200: {statuses}")
    count = len(result["decisions"])
    return {"per_second": count / result["elapsed"], "cpu_us": cpu / count * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", help="default: a new SQLite store")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="charter-serve-workers-") as scratch:
        work = Path(scratch)
        env = {**os.environ, "CHARTER_HOME": str(work / "home"), "COLUMNS": "200"}
        env.pop("CHARTER_DATABASE_URL", None)
        if args.database_url:
            env["CHARTER_DATABASE_URL"] = args.database_url
        bearer = prepare(env, args.agents)
        (work / "bodies.jsonl").write_bytes(b"\n".join(bodies(args.agents, args.requests)))
        (work / "warm.jsonl").write_bytes(b"\n".join(bodies(args.agents, 2000)))
        load_start = os.getloadavg()[0]
        best: dict[int, dict[str, float]] = {}
        ratios = []
        for _ in range(args.rounds):
            got = {w: one_server(env, w, bearer, work, args.concurrency) for w in (1, 2)}
            ratios.append(got[2]["per_second"] / got[1]["per_second"])
            for workers, figures in got.items():
                if workers not in best or figures["per_second"] > best[workers]["per_second"]:
                    best[workers] = figures
        load_end = os.getloadavg()[0]
    title = (
        f"{args.requests} single evaluations per run, {args.concurrency} in flight, "
        f"{args.rounds} round(s); load avg {load_start:.1f} at start, {load_end:.1f} at end; "
        f"{os.cpu_count()} cpus"
    )
    rows = [
        ("peer: --workers 1", best[1]["per_second"], best[1]["cpu_us"]),
        ("--workers 2", best[2]["per_second"], best[2]["cpu_us"]),
    ]
    if args.markdown:
        print(f"{title}\n")
        print("| charter serve | evaluations/s | server CPU µs per evaluation |")
        print("|---|---:|---:|")
        for name, rate, cpu in rows:
            print(f"| {name} | {rate:,.0f} | {cpu:.0f} |")
        print(f"| 2 workers / 1 (best round) | {max(ratios):.2f}× | |")
        return
    print(title)
    print(f"  {'':24}{'evals/s':>12}{'CPU µs/eval':>14}")
    for name, rate, cpu in rows:
        print(f"  {name:24}{rate:>12,.0f}{cpu:>14.0f}")
    print(
        "  2 workers / 1 worker: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f" (best {max(ratios):.2f}x, target 1.7x)"
    )


if __name__ == "__main__":
    main()
