"""Delivery at volume: 10,000 notices to a signed-webhook receiver by one worker, and the
evaluation job's duration with and without delivery running, in the same run.

    .venv/bin/python bench/notices.py [--notices 10000] [--scale 0.01] [--database sqlite]

The receiver is a separate process on loopback that verifies every Standard
Webhooks signature (tests/support/delivery_peers.py) and counts distinct
``webhook-id``s, so a duplicate or a bad signature shows. The worker's delivery
job runs in a thread of this process while the evaluation job runs in another —
the harsher case (one interpreter, one GIL) than a worker, which runs its jobs
one after another with each delivery pass capped by ``delivery.budget``.

Measured: the evaluation alone (cold, on the posture bench's generated estate),
the delivery rate, and the same evaluation while delivery runs (the peer).
Target: 10,000 notices in at most 60 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support

from charter.store.governance_schema import notices
from posture import Estate, _drop, _reset, _services, build

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _serve(ports: Any, stop: Any, results: Any) -> None:
    from tests.support.delivery_peers import Receiver

    with Receiver(SECRET) as web:
        ports.put(web.url)
        stop.wait()
        results.put((len(web.webhook_ids), len(set(web.webhook_ids)), web.bad_signatures))


def _evaluate(services: Any) -> float:
    _reset(services)
    start = time.perf_counter()
    services.governance.evaluation.evaluate(actor="bench")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notices", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=0.01, help="the posture bench's estate")
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="charter-notices-"))
    ctx = multiprocessing.get_context("spawn")
    ports, results, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    receiver = ctx.Process(target=_serve, args=(ports, stop, results), daemon=True)
    receiver.start()
    url = ports.get(timeout=30)
    services, schema = _services(args.database, home)
    out: dict[str, Any] = {"load average (1 min) at start": os.getloadavg()[0]}
    try:
        build(services, Estate(args.scale))
        out["evaluation alone s"] = _evaluate(services)
        now = services.clock.now()
        with services.db.write() as connection:
            connection.execute(
                notices.insert(),
                [
                    {
                        "key": f"bench:{i}",
                        "recipient": f"p{i % 500}@acme.example",
                        "kind": "review.due",
                        "agent": None,
                        "subject": f"Review due #{i}",
                        "body": "Keep, reduce or revoke by Friday.",
                        "created_at": now,
                    }
                    for i in range(args.notices)
                ],
            )
        policy = {
            "delivery": {
                "channels": {
                    "hook": {"type": "webhook", "url": f"{url}/webhook", "secret": {"env": "B_S"}}
                },
                "routes": [{"channel": "hook"}],
                "batch": 500,
                "budget": "10m",
            }
        }
        os.environ["B_S"] = SECRET
        (home / "governance.yaml").write_text(yaml.safe_dump(policy))
        worker = services.governance.worker()
        delivered: dict[str, Any] = {}

        def deliver() -> None:
            start = time.perf_counter()
            delivered.update(services.governance.delivery.run_pass(worker.holder))
            delivered["wall s"] = time.perf_counter() - start

        thread = threading.Thread(target=deliver)
        thread.start()
        time.sleep(0.2)  # delivery under way: routing done, sending
        out["evaluation while delivering s"] = _evaluate(services)
        thread.join()
        out["delivery wall s"] = delivered["wall s"]
        out["delivered"] = delivered.get("sent")
        out["delivery errors"] = delivered.get("errors")
        out["notices per s"] = args.notices / delivered["wall s"]
        out["load average (1 min) at end"] = os.getloadavg()[0]
    finally:
        stop.set()
        received, distinct, bad = results.get(timeout=30)
        receiver.join(timeout=10)
        services.close()
        _drop(schema)
        shutil.rmtree(home, ignore_errors=True)
    out["receiver: messages, distinct ids, bad signatures"] = [received, distinct, bad]
    for key, value in out.items():
        shown = f"{value:>10.2f}" if isinstance(value, float) else f"{value!s:>10}"
        print(f"  {key:52s} {shown}")
    ok = out["delivery wall s"] <= 60 and distinct == args.notices == received and bad == 0
    print(f"  target (all {args.notices:,} once, signed, in <= 60 s): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
