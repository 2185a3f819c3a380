"""The keyed audit chain's verification cost, beside the unkeyed (legacy) chain in the same run.

    .venv/bin/python bench/audit_chain.py [--events 200000] [--rounds 3] [--markdown]

Verifies the same events twice in memory (no database, so only the link
arithmetic is measured). First with legacy SHA-256 links, which is the peer
and was the chain until keyed links. Then with HMAC-SHA256 links under the
chain key. Prints rows/s for each and the keyed/legacy ratio. HMAC adds a
second, short hash per row, so expect about 0.75. With ``--markdown`` the rounds
go to stderr and stdout is the best round's table (bench/update_docs.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time

from charter.domain.audit import GENESIS_HASH, event_hash
from charter.domain.audit_chain import BOUNDARY, HEAD, Anchor, ChainKey, Row, verify_chain

SUMMARY = '{"after":{"reason":"benchmark","state":"suspended"},"before":{"state":"active"}}'


def _chain(events: int, key: ChainKey | None) -> tuple[list[Row], str]:
    rows: list[Row] = []
    prev = GENESIS_HASH
    for seq in range(1, events + 1):
        fields = (
            seq,
            "2026-11-28T00:00:00.000000Z",
            "bench",
            "bench.event",
            "agent",
            f"agent-{seq % 2000:06d}",
            SUMMARY,
        )
        link = key.link(*fields, prev) if key else event_hash(*fields, prev)
        rows.append((*fields, prev, link))
        prev = link
    return rows, prev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    key = ChainKey(b"\x07" * 32)
    legacy, legacy_head = _chain(args.events, None)
    keyed, keyed_head = _chain(args.events, key)
    unsealed = Anchor(BOUNDARY, args.events + 1, legacy_head)
    boundary = Anchor(
        BOUNDARY, 1, GENESIS_HASH, key.key_id, key.seal(BOUNDARY, 1, GENESIS_HASH, key.key_id)
    )
    head = Anchor(
        HEAD,
        args.events,
        keyed_head,
        key.key_id,
        key.seal(HEAD, args.events, keyed_head, key.key_id),
    )
    out = sys.stderr if args.markdown else sys.stdout
    print(f"== {args.events:,} events, in memory, {args.rounds} rounds", file=out)
    best = (0.0, 0.0)
    for _ in range(args.rounds):
        start = time.perf_counter()
        report = verify_chain(legacy, boundary=unsealed, head=None, counted=args.events, key=key)
        plain = time.perf_counter() - start
        assert report.ok, report.problem
        start = time.perf_counter()
        report = verify_chain(keyed, boundary=boundary, head=head, counted=0, key=key)
        keyed_time = time.perf_counter() - start
        assert report.ok, report.problem
        print(
            f"  peer: legacy SHA-256 {args.events / plain:>12,.0f} rows/s   "
            f"keyed HMAC-SHA256 {args.events / keyed_time:>12,.0f} rows/s   "
            f"ratio {plain / keyed_time:.2f}",
            file=out,
        )
        best = (max(best[0], args.events / plain), max(best[1], args.events / keyed_time))
    if args.markdown:
        print(_markdown(args.events, args.rounds, *best))


def _markdown(events: int, rounds: int, legacy: float, keyed: float) -> str:
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"| chain ({events:,} events in memory, best of {rounds}) | verified rows/s | ratio |\n"
        "|---|---:|---:|\n"
        f"| peer: legacy SHA-256 links | {legacy:,.0f} | 1.00 |\n"
        f"| keyed HMAC-SHA256 links | {keyed:,.0f} | {keyed / legacy:.2f} |\n"
        f"\nMeasured {dt.date.today().isoformat()} by `bench/audit_chain.py`, "
        f"load average {load}."
    )


if __name__ == "__main__":
    main()
