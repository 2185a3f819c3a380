"""Shared Signals and SIEM export at volume, each beside its peer measured in the same run.

    .venv/bin/python bench/ssf.py [--transitions 200] [--streams 3] [--gap-ms 50]
                                  [--decisions 20000] [--markdown]

* **The write path**: an agent suspended and resumed ``--transitions`` times (one
  transaction each, audited), with no streams (the peer) and with ``--streams``
  push streams to a receiver on loopback (each suspension queues one SET per
  stream in its transaction). The ratio is what the outbox costs a write.
* **Delivery**: how long after each suspension committed the receiver had its SET
  (``charter serve``'s background sender, here in a thread of this process); the
  transitions are ``--gap-ms`` apart (0: a burst, where the SETs queue up).
* **SIEM export**: ``--decisions`` recorded decisions exported as OCSF events to a
  JSON-lines file, beside the peer: the same rows read and written as plain JSON
  lines (what any export costs before OCSF).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support

import sqlalchemy as sa
from tests.support.ssf_peers import SsfPeer

from charter.config import Settings
from charter.domain import ssf
from charter.domain.charter_parsing import parse_charter
from charter.domain.lifecycle import Transition
from charter.services.context import Services
from charter.services.people import PersonRecord
from charter.services.siem import FileSink
from charter.store import schema

OWNER = "ada@acme.example"
AGENT = "bench-agent"


def _services(home: Path) -> Services:
    return Services.from_settings(Settings(home=home, database_url=f"sqlite:///{home / 'b.db'}"))


def _agent(services: Services) -> None:
    services.people.import_records([PersonRecord(email=OWNER, name="Ada")], actor="bench")
    spec = parse_charter(
        {
            "name": AGENT,
            "owner": OWNER,
            "purpose": "a bench agent",
            "allow": [{"action": "tickets.read", "resource": "zendesk:tickets/*"}],
        }
    )
    services.registry.register(spec, actor="bench")
    services.registry.transition(AGENT, Transition.ACTIVATE, actor="bench", reason="bench")


def _cycles(
    services: Services, n: int, committed: list[float] | None = None, gap: float = 0.0
) -> list[float]:
    """Milliseconds per transition (suspend and resume alternate), ``gap`` seconds apart."""
    took: list[float] = []
    for i in range(n):
        time.sleep(gap)
        move = Transition.SUSPEND if i % 2 == 0 else Transition.RESUME
        start = time.perf_counter()
        services.registry.transition(AGENT, move, actor="bench", reason=f"cycle {i}")
        took.append((time.perf_counter() - start) * 1000)
        if committed is not None and move == Transition.SUSPEND:
            committed.append(time.monotonic())
    return took


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def write_path(args: argparse.Namespace, base: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    peer_home = base / "peer"
    peer_home.mkdir()
    services = _services(peer_home)
    try:
        _agent(services)
        peer = _cycles(services, args.transitions, gap=args.gap_ms / 1000)
    finally:
        services.close()
    home = base / "streams"
    home.mkdir()
    services = _services(home)
    with SsfPeer() as receiver:
        try:
            _agent(services)
            streams = []
            for _ in range(args.streams):
                delivery = {"method": ssf.PUSH, "endpoint_url": f"{receiver.url}/receiver"}
                request = ssf.parse_stream_request({"aud": "urn:bench", "delivery": delivery})
                streams.append(services.ssf.streams.create(request, actor="bench").stream.id)
            # the outbox alone: the streams paused (SETs written, none sent), no sender
            for stream_id in streams:
                services.ssf.streams.set_status(stream_id, "paused", None, actor="bench")
            outbox_only = _cycles(services, args.transitions, gap=args.gap_ms / 1000)
            for stream_id in streams:  # disabled drops what was queued; then enabled again
                services.ssf.streams.set_status(stream_id, "disabled", None, actor="bench")
                services.ssf.streams.set_status(stream_id, "enabled", None, actor="bench")
            sender = services.ssf.sender()
            sender.start()
            committed: list[float] = []
            with_streams = _cycles(services, args.transitions, committed, args.gap_ms / 1000)
            expected = len(committed) * args.streams
            receiver.wait_pushed(expected, seconds=60)
            sender.stop()
        finally:
            services.close()
    times = sorted(float(entry["at"]) for entry in receiver.pushed)
    # SETs of one suspension arrive together: the k-th group belongs to the k-th commit
    lags = [
        (times[i] - committed[i // args.streams]) * 1000 for i in range(min(len(times), expected))
    ]
    out["peer: transition without streams p50 ms"] = statistics.median(peer)
    out[f"transition with {args.streams} streams, outbox only p50 ms"] = statistics.median(
        outbox_only
    )
    out[f"transition with {args.streams} streams while pushing p50 ms"] = statistics.median(
        with_streams
    )
    out["ratio outbox only/without streams"] = statistics.median(outbox_only) / statistics.median(
        peer
    )
    out["SET delivered after commit p50 ms"] = _p(lags, 0.5)
    out["SET delivered after commit p95 ms"] = _p(lags, 0.95)
    out["SETs delivered"] = float(len(times))
    out["SETs expected"] = float(expected)
    return out


def siem(args: argparse.Namespace, base: Path) -> dict[str, float]:
    home = base / "siem"
    home.mkdir()
    services = _services(home)
    try:
        _agent(services)
        now = services.clock.now()
        rows = [
            {
                "time": now,
                "agent": AGENT,
                "identity": None,
                "on_behalf_of": OWNER if i % 3 == 0 else None,
                "action": "tickets.read",
                "resource": f"zendesk:tickets/{i}",
                "allowed": i % 7 != 0,
                "reasons": [] if i % 7 else ["no_rule_allows"],
                "source": "sdk",
                "latency_us": 12.0,
                "context": None,
            }
            for i in range(args.decisions)
        ]
        with services.db.write() as connection:
            connection.execute(sa.insert(schema.activities), rows)
        start, cpu = time.perf_counter(), time.process_time()
        with services.db.read() as connection, open(home / "plain.jsonl", "w") as handle:
            for row in connection.execute(sa.select(schema.activities)):
                handle.write(json.dumps(dict(row._mapping), default=str) + "\n")
        plain, plain_cpu = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        done = services.siem.export(FileSink(home / "ocsf.jsonl"))
        took, took_cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        services.close()
    return {
        "OCSF events exported/s": done.decisions / took,
        "OCSF events exported per CPU-s": done.decisions / took_cpu,
        "peer: plain JSON lines/s": args.decisions / plain,
        "peer: plain JSON lines per CPU-s": args.decisions / plain_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transitions", type=int, default=200)
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--decisions", type=int, default=20000)
    parser.add_argument("--gap-ms", type=float, default=50, help="pause between transitions")
    parser.add_argument("--markdown", action="store_true", help="print the figures as a table")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        figures = {**write_path(args, base), **siem(args, base)}
    load_end = os.getloadavg()
    if args.markdown:
        print("| figure | value |\n|---|---|")
        for name, value in figures.items():
            print(f"| {name} | {value:,.2f} |")
        print(f"\nload average (1 min) {load[0]:.2f} at start, {load_end[0]:.2f} at end")
        return
    print(
        f"== sqlite: {args.transitions} transitions, {args.streams} push streams, "
        f"{args.decisions} decisions (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )
    for name, value in figures.items():
        print(f"  {name:<48} {value:,.2f}")
    print(f"load average at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")


if __name__ == "__main__":
    main()
