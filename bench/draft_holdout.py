"""Drafted charters on held-out traffic: train on days 1–20, test on days 21–30.

A generated agent (``tests/support/intent_traffic.py``: support-triage) makes its
legitimate calls for 30 days; from day 21 an incident adds out-of-purpose calls and
from day 22 the team starts a legitimate habit the first 20 days never showed. The
calls are recorded in a fresh SQLite store as the gateway records them, the draft is
written from days 1–20 (``DraftService.draft``), and every call of days 21–30 is
decided under the draft. Printed: the share of later legitimate calls the draft
allows, and of out-of-purpose calls it denies — beside the peer, the broad charter
the agent ran under (``action: "*"``), which allows everything.

    .venv/bin/python bench/draft_holdout.py [--seeds 5] [--per-day 120] [--markdown]

With ``--markdown`` the rows go to stderr and stdout is the docs' table
(docs/intent.md, written by bench/update_docs.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import intent_traffic as traffic  # noqa: E402

from charter.config import Settings  # noqa: E402
from charter.domain.charter_parsing import parse_charter_text  # noqa: E402
from charter.services.context import Services  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--per-day", type=int, default=120)
    parser.add_argument("--markdown", action="store_true", help="print the docs' table")
    args = parser.parse_args()
    out = sys.stderr if args.markdown else sys.stdout
    table = [
        "| seed | training calls | rules | later legitimate calls allowed "
        "| out-of-purpose calls denied | peer: the broad charter, allowed / denied | draft s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("Drafted charter on held-out days (train 1-20, test 21-30)", file=out)
    print(
        f"{'seed':>4} {'train':>6} {'rules':>5} {'legit allowed':>14} {'abuse denied':>13} "
        f"{'broad: legit / abuse denied':>28} {'draft s':>8}",
        file=out,
    )
    legit_shares, denied_shares = [], []
    for seed in range(1, args.seeds + 1):
        with tempfile.TemporaryDirectory() as home:
            services = Services.from_settings(
                Settings(home=Path(home), database_url=f"sqlite:///{home}/charter.db")
            )
            start = traffic.days_ago(dt.datetime.now(dt.UTC), 30)
            calls = traffic.traffic(start, per_day=args.per_day, seed=seed)
            traffic.record(services.db, calls)
            train, held_out = traffic.split(calls)
            began = time.perf_counter()
            draft = services.drafts.draft(
                traffic.AGENT, days=20, owner=traffic.OWNER, until=start + dt.timedelta(days=20)
            )
            took = time.perf_counter() - began
            score = traffic.score(parse_charter_text(draft.text), held_out)
            broad = traffic.score(parse_charter_text(traffic.BROAD_CHARTER), held_out)
            services.close()
        legit_shares.append(score.legitimate_share)
        denied_shares.append(score.denied_share)
        print(
            f"{seed:>4} {len(train):>6} {draft.rules:>5} "
            f"{score.legitimate_allowed:>5}/{score.legitimate:<5} {score.legitimate_share:>4.0%} "
            f"{score.out_of_purpose_denied:>4}/{score.out_of_purpose:<4} "
            f"{score.denied_share:>4.0%} "
            f"{broad.legitimate_share:>18.0%} / {broad.denied_share:>4.0%} {took:>8.2f}",
            file=out,
        )
        table.append(
            f"| {seed} | {len(train):,} | {draft.rules} "
            f"| {score.legitimate_allowed}/{score.legitimate} ({score.legitimate_share:.0%}) "
            f"| {score.out_of_purpose_denied}/{score.out_of_purpose} ({score.denied_share:.0%}) "
            f"| {broad.legitimate_share:.0%} / {broad.denied_share:.0%} | {took:.2f} |"
        )
    legit_mean = sum(legit_shares) / len(legit_shares)
    denied_mean = sum(denied_shares) / len(denied_shares)
    if args.markdown:
        load = " ".join(f"{value:.1f}" for value in os.getloadavg())
        table.append(f"| mean | | | {legit_mean:.1%} | {denied_mean:.1%} | 100% / 0% | |")
        table.append(
            f"\nMeasured {dt.date.today().isoformat()} by `bench/draft_holdout.py` "
            f"({args.per_day} calls a day), load average {load}."
        )
        print("\n".join(table))
    print(
        f"\nmean: {legit_mean:.1%} of later legitimate calls allowed "
        f"(the misses are the new habit, tickets.tags.update), "
        f"{denied_mean:.1%} of out-of-purpose calls denied; "
        "the broad charter: 100% allowed, 0% denied",
        file=out,
    )


if __name__ == "__main__":
    main()
