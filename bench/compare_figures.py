"""The benchmarks `compare_commits.py` runs, their arguments, and how to read their figures.

Figures are parsed from what each benchmark prints today, not from a ``--json`` flag:
the commits being compared carry their own copies of the scripts, and an older commit's
scripts cannot be taught a new flag. The printed layout is what both sides share.

Sizes are cut down from each script's defaults (which build estates of a million
credentials and take minutes per run) so that several alternating rounds of every
benchmark for two commits fit in about a quarter of an hour; what each one measures is
unchanged. Peers stay in wherever they are cheap: a peer's ratio between the two commits
shows how much the machine alone moved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cluster_figures import propagation, serve_workers

#: One figure of one run: (name, value, higher is better).
Figure = tuple[str, float, bool]
Parser = Callable[[str], list[Figure]]

NUMBER = r"-?[\d,]*\.?\d+"


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def audit_chain(out: str) -> list[Figure]:
    """Rows/s of each round; the per-run figure is the best round (the script prints each)."""
    legacy: list[float] = []
    keyed: list[float] = []
    for match in re.finditer(
        rf"legacy SHA-256\s+({NUMBER}) rows/s\s+keyed HMAC-SHA256\s+({NUMBER}) rows/s", out
    ):
        legacy.append(_num(match[1]))
        keyed.append(_num(match[2]))
    if not legacy:
        return []
    return [
        ("keyed HMAC-SHA256 verify rows/s", max(keyed), True),
        ("peer: legacy SHA-256 verify rows/s", max(legacy), True),
    ]


def registry(out: str) -> list[Figure]:
    figures: list[Figure] = []
    database = ""
    for text in out.splitlines():
        if header := re.match(r"== (\w+):", text):
            database = header[1]
            continue
        row = re.match(rf"  (\S.*?)\s+({NUMBER})$", text)
        if not row or "ratio" in row[1] or row[1] == "events" or "extrapolated" in row[1]:
            continue
        name = row[1]
        figures.append((f"{database}: {name}", _num(row[2]), "/s" in name))
    return figures


def tokens(out: str) -> list[Figure]:
    figures: list[Figure] = []
    section = ""
    for text in out.splitlines():
        if header := re.match(r"(\w+) (issuance|verification)\b", text):
            section = f"{header[1]} "
            continue
        if idle := re.search(
            rf"raw verify ({NUMBER}) µs .*verifier without it ({NUMBER}) µs", text
        ):
            figures.append((f"{section}peer: raw verify µs (minimum)", _num(idle[1]), False))
            figures.append((f"{section}verifier overhead µs (minimum)", _num(idle[2]), False))
            continue
        issued = re.match(rf"  (issued/s .*?)\s+({NUMBER})\s+({NUMBER})$", text)
        if issued:
            figures.append((f"{section}{issued[1]} wall", _num(issued[2]), True))
            figures.append((f"{section}{issued[1]} per CPU-s", _num(issued[3]), True))
            continue
        verified = re.match(
            rf"  ((?:verified/s|PyJWT|joserfc).*?)\s+({NUMBER})\s+{NUMBER}%\s+({NUMBER})\s", text
        )
        if verified:
            name = verified[1] if verified[1].startswith("verified") else f"peer: {verified[1]}"
            figures.append((f"{section}{name} paired", _num(verified[2]), True))
            figures.append((f"{section}{name} block", _num(verified[3]), True))
            continue
        raw = re.match(rf"  (raw cryptography verify/s)\s+({NUMBER})\s+({NUMBER})$", text)
        if raw:
            figures.append((f"{section}peer: {raw[1]} paired", _num(raw[2]), True))
            figures.append((f"{section}peer: {raw[1]} block", _num(raw[3]), True))
    return figures


def gateway(out: str) -> list[Figure]:
    figures: list[Figure] = []
    for label, name in (
        ("direct to upstream (peer)", "peer: direct"),
        ("through charter gateway", "gateway"),
    ):
        row = re.search(
            rf"^{re.escape(label)}\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})"
            rf"(?:\s+({NUMBER}))?$",
            out,
            re.MULTILINE,
        )
        if row:
            figures += [
                (f"{name} p50 ms", _num(row[1]), False),
                (f"{name} p99 ms", _num(row[2]), False),
                (f"{name} calls/s", _num(row[3]), True),
                (f"{name} concurrent calls/s", _num(row[4]), True),
            ]
            if row[5] is not None:
                figures.append((f"{name} server CPU us/call", _num(row[5]), False))
    if added := re.search(rf"gateway adds ({NUMBER}) ms at p50", out):
        figures.append(("gateway added p50 ms", _num(added[1]), False))
    if added := re.search(rf", ({NUMBER}) ms\s+at p99", out):
        figures.append(("gateway added p99 ms", _num(added[1]), False))
    if held := re.search(rf"({NUMBER}) KiB per idle connection", out):
        figures.append(("gateway KiB per idle connection", _num(held[1]), False))
    return figures


def gateway_auth(out: str) -> list[Figure]:
    """``bench/gateway_auth.py``: one row per part of the hot path, in microseconds."""
    return [
        (f"{label.strip()} us", _num(value), False)
        for label, value in re.findall(rf"^(\S.*?)\s+({NUMBER}) us$", out, re.MULTILINE)
    ]


def aws_escalation(out: str) -> list[Figure]:
    """``bench/aws_escalation.py``: CPU seconds to load an export, and for the analysis alone."""
    figures: list[Figure] = []
    if load := re.search(rf"load only .*?: {NUMBER} s wall, ({NUMBER}) s CPU", out):
        figures.append(("load only CPU s", _num(load[1]), False))
    if both := re.search(rf"the analysis alone {NUMBER} s wall, ({NUMBER}) s CPU", out):
        figures.append(("escalation analysis CPU s", _num(both[1]), False))
    return figures


def draft_holdout(out: str) -> list[Figure]:
    """``bench/draft_holdout.py``: shares of held-out calls the drafted charter gets right."""
    found = re.search(rf"mean: ({NUMBER})% of later .*?, ({NUMBER})% of out-of-purpose", out)
    if not found:
        return []
    return [
        ("legitimate calls allowed %", _num(found[1]), True),
        ("out-of-purpose calls denied %", _num(found[2]), True),
    ]


def notices(out: str) -> list[Figure]:
    """``bench/notices.py``: delivery rate and wall time, the evaluation with and without it."""
    figures: list[Figure] = []
    for text in out.splitlines():
        row = re.match(rf"  (\S.*?)\s+({NUMBER})$", text)
        if row and not row[1].startswith(("load average", "delivered", "delivery errors")):
            figures.append((row[1], _num(row[2]), row[1].endswith("per s")))
    return figures


def ssf(out: str) -> list[Figure]:
    """``bench/ssf.py``: transitions with and without push streams, SET delivery lag, the
    OCSF export beside plain JSON lines (counts and the ratio are not figures)."""
    figures: list[Figure] = []
    for text in out.splitlines():
        row = re.match(rf"  (\S.*?)\s+({NUMBER})$", text)
        if row and not row[1].startswith(("SETs ", "ratio")):
            figures.append((row[1], _num(row[2]), "/s" in row[1] or "per CPU-s" in row[1]))
    return figures


def whatif(out: str) -> list[Figure]:
    """``bench/whatif.py``: CPU seconds of each replay, the read-only floor and the naive peer."""
    return [
        (f"{' '.join(label.split())} CPU s", _num(cpu), False)
        for label, cpu in re.findall(
            rf"^  (read only|what-if, \w+ +policy|naive evaluate x2)\s.*?{NUMBER} s wall\s+"
            rf"({NUMBER}) s CPU",
            out,
            re.MULTILINE,
        )
    ]


#: Labels of ``bench/decisions.py`` longer than its label column (one space, not two, follows).
DECISION_LABELS = (
    "memory kept by the index / peak while parsing + compiling",
    "decisions/s (wall) / CPU per decision incl. writing it",
    "per second of the server's own CPU: single / batched",
)
DECISION_SECTIONS = {
    "compile": "compile",
    "in-process: evaluate": "evaluate",
    "in-process: DecisionService": "decide",
    "in-process: people as subjects": "people",
    "AuthZEN over HTTP": "AuthZEN",
}


def decisions(out: str) -> list[Figure]:
    figures: list[Figure] = []
    section = ""
    for text in out.splitlines():
        if text and not text.startswith(" "):
            section = next((v for k, v in DECISION_SECTIONS.items() if text.startswith(k)), text)
            continue
        body = text[2:]
        label = next((known for known in DECISION_LABELS if body.startswith(known)), None)
        if label is None:
            row = re.match(r"(\S.*?)\s{2,}(\S.*)$", body)
            if not row:
                continue
            label = row[1]
        numbers = [_num(n) for n in re.findall(NUMBER, body[len(label) :])]
        if label.startswith(("parse charters", "compile into", "cold load")):
            figures.append((f"{section}: {label} wall s", numbers[0], False))
            figures.append((f"{section}: {label} CPU s", numbers[1], False))
        elif label.startswith("memory kept by the index"):
            figures.append((f"{section}: index MB", numbers[0], False))
        elif label.startswith("p50 / p99"):
            figures.append((f"{section}: p50 µs", numbers[0], False))
            figures.append((f"{section}: p99 µs", numbers[1], False))
        elif label.startswith("decisions/s (one thread"):
            figures.append((f"{section}: decisions/s (CPU time)", numbers[0], True))
        elif label.startswith("decisions/s (wall)"):
            figures.append((f"{section}: decisions/s (wall)", numbers[0], True))
            figures.append((f"{section}: CPU µs per decision", numbers[1], False))
        elif label.startswith("single evaluations"):
            figures.append((f"{section}: single evaluations/s", numbers[0], True))
        elif label.startswith("batched"):
            figures.append((f"{section}: batched decisions/s", numbers[0], True))
        elif label.startswith("per second of the server"):
            figures.append((f"{section}: single per server CPU-s", numbers[0], True))
            figures.append((f"{section}: batched per server CPU-s", numbers[1], True))
    return figures


def estate(out: str) -> list[Figure]:
    figures: list[Figure] = []
    patterns: list[tuple[str, str, bool]] = [
        (rf"first ingest\s+({NUMBER}) s\s+\(CPU ({NUMBER}) s", "first ingest", False),
        (rf"re-ingest\s+({NUMBER}) s\s+\(CPU ({NUMBER}) s", "re-ingest", False),
    ]
    for pattern, name, higher in patterns:
        if match := re.search(pattern, out):
            figures.append((f"{name} wall s", _num(match[1]), higher))
            figures.append((f"{name} CPU s", _num(match[2]), higher))
    for match in re.finditer(
        rf"blast radius\s+p50\s+({NUMBER}) ms\s+p95\s+({NUMBER}) ms\s+\((\w+ agent)", out
    ):
        figures.append((f"blast radius p50 ms ({match[3]})", _num(match[1]), False))
    if match := re.search(rf"peak memory\s+({NUMBER}) MB", out):
        figures.append(("peak memory MB", _num(match[1]), False))
    if match := re.search(rf"peer: raw executemany of the same rows\s+({NUMBER}) s", out):
        figures.append(("peer: raw executemany s", _num(match[1]), False))
    return figures


def console(out: str) -> list[Figure]:
    figures: list[Figure] = []
    for text in out.splitlines():
        page = re.match(rf"(/\S*)\s+({NUMBER})\s+({NUMBER})\s+\d{{3}}", text)
        if page:
            # a shadow agent's page is named after whichever shadow agent the store holds
            path = re.sub(r"^/agents/(?!agent-)[^/?]+$", "/agents/<shadow agent>", page[1])
            figures.append((f"{path} p50 ms", _num(page[2]), False))
            continue
        peer = re.match(rf"(peer: .*?)\s+({NUMBER})$", text)
        if peer:
            figures.append((f"{peer[1]} ms", _num(peer[2]), False))
    return figures


POSTURE_SKIP = ("load ", "index + analyze", "top agent")


def posture(out: str) -> list[Figure]:
    figures: list[Figure] = []
    database = ""
    for text in out.splitlines():
        if header := re.match(r"== (\w+)", text):
            database = header[1]
            continue
        row = re.match(rf"  (\S.*? s(?: \(.*\))?)\s+({NUMBER})$", text)
        if row and not row[1].startswith(POSTURE_SKIP):
            figures.append((f"{database}: {row[1]}", _num(row[2]), False))
    return figures


def scan(out: str) -> list[Figure]:
    """Seconds rather than the MB/s columns: those print one decimal, too coarse here."""
    figures: list[Figure] = []
    for match in re.finditer(
        rf"^(charter --jobs \d+|detect-secrets|gitleaks)"
        rf"\s+{NUMBER}\s+({NUMBER})\s+{NUMBER}\s+({NUMBER})\s",
        out,
        re.MULTILINE,
    ):
        name = match[1] if match[1].startswith("charter") else f"peer: {match[1]}"
        figures.append((f"{name} wall s", _num(match[2]), False))
        figures.append((f"{name} CPU s", _num(match[3]), False))
    return figures


SEARCH_ROWS = {
    "in process, Charter search": "in process",
    "in process, naive per-candidate loop": "peer: naive per-candidate loop",
    "over HTTP (one worker, loopback)": "over HTTP",
    "same server, GET /healthz (the floor)": "peer: GET /healthz",
}


def authzen_search(out: str) -> list[Figure]:
    """p50 and p95 (ms) of each row: Charter's resource search and the peers beside it."""
    figures: list[Figure] = []
    for match in re.finditer(
        rf"^\s*(\S[^:]*?):\s+p50\s+({NUMBER}) ms\s+p95\s+({NUMBER}) ms", out, re.M
    ):
        name = SEARCH_ROWS.get(match[1])
        if name is not None:
            figures.append((f"{name} p50 ms", _num(match[2]), False))
            figures.append((f"{name} p95 ms", _num(match[3]), False))
    return figures


def authzen_http(out: str) -> list[Figure]:
    """Decisions per server CPU-second of each server and request kind (the floor is the peer)."""
    figures: list[Figure] = []
    for match in re.finditer(
        rf"^\s*(.+?) (single|batched): ({NUMBER}) per server CPU-s", out, re.M
    ):
        server = "peer: floor" if match[1].startswith("floor") else match[1]
        figures.append((f"{server} {match[2]} per CPU-s", _num(match[3]), True))
    return figures


@dataclass(frozen=True)
class Bench:
    """One benchmark script: its arguments per mode, and how to read what it prints.

    ``{work}`` in an argument is replaced by a directory of the commit's own, outside its
    worktree (stores kept between rounds, generated corpora). When ``prepare`` is given
    (arguments added to the mode's), the script runs once per commit before the rounds,
    to build the store the rounds then reuse; that run is not counted.
    """

    name: str
    script: str
    parse: Parser
    full: tuple[str, ...]
    quick: tuple[str, ...]
    prepare: tuple[str, ...] | None = None
    postgres: tuple[str, ...] = field(default=())


BENCHES = (
    Bench(
        "audit_chain",
        "bench/audit_chain.py",
        audit_chain,
        ("--events", "100000", "--rounds", "3"),
        ("--events", "50000", "--rounds", "2"),
    ),
    Bench(
        "registry",
        "bench/registry.py",
        registry,
        ("--events", "50000", "--agents", "500", "--databases", "sqlite"),
        ("--events", "30000", "--agents", "300", "--databases", "sqlite"),
        postgres=("--databases", "sqlite,postgres"),
    ),
    Bench(
        "tokens",
        "bench/tokens.py",
        tokens,
        ("--tokens", "800", "--http-seconds", "2", "--rounds", "2"),
        ("--tokens", "300", "--http-seconds", "1", "--rounds", "1"),
    ),
    Bench(
        "gateway",
        "bench/gateway.py",
        gateway,
        ("--calls", "400", "--rounds", "4", "--concurrency", "16", "--connections", "300"),
        ("--calls", "200", "--rounds", "2", "--concurrency", "16", "--connections", "0"),
    ),
    Bench(
        "gateway_auth",
        "bench/gateway_auth.py",
        gateway_auth,
        ("--requests", "20000"),
        ("--requests", "5000"),
    ),
    Bench(
        "decisions",
        "bench/decisions.py",
        decisions,
        ("--agents", "1000", "--requests", "20000", "--http-single", "2000", "--skip-cedar"),
        ("--agents", "300", "--requests", "5000", "--http-single", "1000", "--skip-cedar"),
    ),
    Bench(
        "authzen_http",
        "bench/authzen_http.py",
        authzen_http,
        ("--agents", "1000", "--requests", "20000", "--single", "4000"),
        ("--agents", "300", "--requests", "5000", "--single", "1000"),
    ),
    Bench(
        "authzen_search",
        "bench/authzen_search.py",
        authzen_search,
        ("--agents", "3000", "--requests", "300"),
        ("--agents", "1000", "--requests", "100"),
    ),
    Bench(
        "estate",
        "bench/estate.py",
        estate,
        ("--identities", "5000", "--systems", "5", "--databases", "sqlite"),
        ("--identities", "2000", "--systems", "4", "--databases", "sqlite", "--no-peer"),
        postgres=("--databases", "sqlite,postgres"),
    ),
    Bench(
        "console",
        "bench/console.py",
        console,
        (
            "--store",
            "{work}/console-store",
            "--identities",
            "3000",
            "--systems",
            "5",
            "--requests",
            "3",
        ),
        (
            "--store",
            "{work}/console-store-quick",
            "--identities",
            "1000",
            "--systems",
            "2",
            "--requests",
            "3",
        ),
        prepare=("--requests", "1"),
    ),
    Bench(
        "posture",
        "bench/posture.py",
        posture,
        ("--scale", "0.01", "--databases", "sqlite", "--keep", "{work}/posture"),
        ("--scale", "0.003", "--databases", "sqlite", "--keep", "{work}/posture-quick"),
        prepare=(),
        postgres=("--databases", "sqlite,postgres"),
    ),
    Bench(
        "scan",
        "bench/scan.py",
        scan,
        ("--size-mb", "10", "--skip-peer", "--out", "{work}/scan-corpus"),
        ("--size-mb", "3", "--skip-peer", "--jobs", "1", "--out", "{work}/scan-corpus"),
    ),
    Bench(
        "aws_escalation",
        "bench/aws_escalation.py",
        aws_escalation,
        ("--roles", "2000", "--policies", "8000", "--users", "200"),
        ("--roles", "500", "--policies", "2000", "--users", "50"),
    ),
    Bench(
        "draft_holdout",
        "bench/draft_holdout.py",
        draft_holdout,
        ("--seeds", "2"),
        ("--seeds", "1"),
    ),
    Bench(
        "notices",
        "bench/notices.py",
        notices,
        ("--notices", "2000", "--scale", "0.003"),
        ("--notices", "500", "--scale", "0.003"),
    ),
    Bench(
        "ssf",
        "bench/ssf.py",
        ssf,
        ("--transitions", "200", "--decisions", "20000"),
        ("--transitions", "60", "--decisions", "5000"),
    ),
    Bench(
        "propagation",
        "bench/propagation.py",
        propagation,
        ("--suspensions", "50"),
        ("--suspensions", "20"),
    ),
    Bench(
        "serve_workers",
        "bench/serve_workers.py",
        serve_workers,
        ("--requests", "20000", "--rounds", "2"),
        ("--requests", "5000", "--rounds", "1"),
    ),
    Bench(
        "whatif",
        "bench/whatif.py",
        whatif,
        ("--rows", "200000", "--sample", "20000", "--dir", "{work}/whatif"),
        ("--rows", "50000", "--sample", "5000", "--dir", "{work}/whatif-quick"),
    ),
)


def arguments(bench: Bench, *, quick: bool, postgres: bool, work: Path) -> list[str]:
    """The command-line arguments of one run (``--databases`` widened with ``postgres``)."""
    chosen = list(bench.quick if quick else bench.full)
    if postgres and bench.postgres:
        flag = bench.postgres[0]
        if flag in chosen:
            chosen[chosen.index(flag) + 1] = bench.postgres[1]
    return [a.replace("{work}", str(work)) for a in chosen]
