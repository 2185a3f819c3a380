"""Parsers of the replicas benchmarks' printed figures (``compare_figures`` lists them).

``bench/propagation.py`` (a suspension reaching every replica) and
``bench/serve_workers.py`` (``charter serve --workers 2`` against one worker).
"""

from __future__ import annotations

import re

Figure = tuple[str, float, bool]
NUMBER = r"-?[\d,]*\.?\d+"


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def propagation(out: str) -> list[Figure]:
    """``bench/propagation.py``: p50/p99 ms of a suspension reaching replicas, and the peer."""
    rows = re.findall(
        rf"^  (suspension → \w+ replica|peer: one evaluation round trip)"
        rf"\s+({NUMBER})\s+({NUMBER})\s+{NUMBER}$",
        out,
        re.MULTILINE,
    )
    return [
        (f"{n} {p} ms", _num(v), False)
        for n, *vs in rows
        for p, v in zip(("p50", "p99"), vs, strict=True)
    ]


def serve_workers(out: str) -> list[Figure]:
    """``bench/serve_workers.py``: evaluations/s with one and two workers, and their ratio."""
    figures: list[Figure] = []
    for label, rate, cpu in re.findall(
        rf"^  ((?:peer: )?--workers \d)\s+({NUMBER})\s+({NUMBER})$", out, re.MULTILINE
    ):
        name = label.replace("--workers 1", "1 worker").replace("--workers 2", "2 workers")
        figures += [
            (f"{name} evaluations/s", _num(rate), True),
            (f"{name} server CPU µs per evaluation", _num(cpu), False),
        ]
    if ratio := re.search(rf"\(best ({NUMBER})x", out):
        figures.append(("2 workers / 1 worker", _num(ratio[1]), True))
    return figures
